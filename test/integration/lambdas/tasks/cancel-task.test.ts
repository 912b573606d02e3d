import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorBody } from '#core/api/contract.ts';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import { createHandler } from '#lambdas/tasks/cancel-task/handler.ts';
import { createHandler as finalizeTaskHandler } from '#lambdas/tasks/finalize-task/handler.ts';
import { createHandler as waitForJobsHandler } from '#lambdas/tasks/wait-for-jobs/handler.ts';
import {
  createHandlerHarness,
  type HandlerHarness,
  httpEvent,
  invoke,
  invokeHttp,
  issueFields,
} from '#test/support/handler-harness.ts';
import {
  claimed,
  complete,
  generationSpec,
  heartbeat,
  nth,
  refOf,
  registerPilot,
  report,
  runAttempt,
  runningTask,
  submitTask,
  USER_SCOPES,
} from '../task-flow.ts';

type CancelReply = { taskId: string; state: string; cancelRequested: true } & ErrorBody;

let h: HandlerHarness;
let pilotId: string;

beforeAll(async () => {
  h = await createHandlerHarness();
  pilotId = await registerPilot(h);
});

afterAll(async () => {
  await h?.close();
});

function cancel(taskId: string, sub: string | null = 'alice') {
  return invokeHttp<CancelReply>(
    createHandler(h.deps),
    httpEvent({
      method: 'POST',
      path: '/tasks/{taskId}/cancel',
      pathParameters: { taskId },
      sub,
      scopes: USER_SCOPES,
    }),
  );
}

describe('cancel-task handler', () => {
  it('answers 202 and cancels the queued jobs; a running job is killed through its heartbeat', async () => {
    const { taskId, messages } = await runningTask(h, generationSpec(4));
    await invoke(waitForJobsHandler(h.deps), { taskId, taskToken: 'token-cancel-1' });
    const held = refOf(nth(messages, 2));
    await claimed(h, pilotId, held);
    const now = h.clock.advance(1000);

    const reply = await cancel(taskId);

    expect(reply.statusCode).toBe(202);
    expect(reply.body).toEqual({ taskId, state: 'running', cancelRequested: true });
    const jobs = (await h.deps.jobs.listByTask(taskId, {}, { limit: 10 })).items;
    expect(jobs.map((j) => [j.jobIndex, j.state])).toEqual([
      [0, 'cancelled'],
      [1, 'cancelled'],
      [2, 'starting'],
      [3, 'cancelled'],
    ]);
    expect(jobs[0]).toMatchObject({ endedAt: now.toISOString(), errorMessage: 'cancelled by its owner' });
    const task = await h.deps.tasks.get(taskId);
    expect(task).toMatchObject({ state: 'running', cancelRequested: true });
    expect(task?.counts).toMatchObject({ cancelled: 3, starting: 1, queued: 0 });
    expect(h.workflow.releasesOf(taskId)).toEqual([]);

    // The pilot hears of it at its next heartbeat, kills the payload and reports.
    const beat = await heartbeat(h, pilotId, { state: 'busy', jobs: [{ ...held, phase: 'running' }] });
    expect(beat.body.jobs).toEqual([{ ...held, action: 'kill', reason: 'cancelled' }]);
    const done = await complete(h, pilotId, report(held, { pilotErrorCode: PILOT_ERROR_CODES.CANCELLED }));
    expect(done.body).toEqual({ outcome: 'recorded', jobState: 'cancelled', attempt: 1 });

    expect(h.workflow.releasesOf(taskId)).toEqual([{ token: 'token-cancel-1', output: { taskId } }]);
    expect(await invoke(finalizeTaskHandler(h.deps), { taskId })).toEqual({ state: 'cancelled' });
  });

  it('releases the waiting workflow at once when no job is left running', async () => {
    const { taskId } = await runningTask(h, generationSpec(3));
    await invoke(waitForJobsHandler(h.deps), { taskId, taskToken: 'token-cancel-2' });
    expect((await cancel(taskId)).statusCode).toBe(202);
    expect((await h.deps.tasks.get(taskId))?.counts).toMatchObject({ cancelled: 3, queued: 0 });
    expect(h.workflow.releasesOf(taskId)).toEqual([{ token: 'token-cancel-2', output: { taskId } }]);
  });

  it('accepts a task not split yet, and a second cancel of a task not final yet', async () => {
    const taskId = await submitTask(h, generationSpec(2));
    const first = await cancel(taskId);
    expect(first.statusCode).toBe(202);
    expect(first.body).toEqual({ taskId, state: 'submitted', cancelRequested: true });
    const second = await cancel(taskId);
    expect(second.statusCode).toBe(202);
    expect((await h.deps.tasks.get(taskId))?.cancelRequested).toBe(true);
  });

  it('answers 409 for a task that is already final', async () => {
    const { taskId, messages } = await runningTask(h, generationSpec(1));
    await runAttempt(h, pilotId, refOf(nth(messages, 0)));
    await invoke(finalizeTaskHandler(h.deps), { taskId });

    const reply = await cancel(taskId);
    expect(reply.statusCode).toBe(409);
    expect(reply.body.error).toEqual({ code: 'CONFLICT', message: `task ${taskId} is already done` });
    expect(await h.deps.tasks.get(taskId)).toMatchObject({ state: 'done', cancelRequested: false });
  });

  it('answers 404 to another user and leaves the task alone', async () => {
    const { taskId } = await runningTask(h, generationSpec(1));
    const reply = await cancel(taskId, 'mallory');
    expect(reply.statusCode).toBe(404);
    expect(await h.deps.tasks.get(taskId)).toMatchObject({ state: 'running', cancelRequested: false });
    expect((await h.deps.jobs.get(taskId, 0))?.state).toBe('queued');
  });

  it('answers 400 naming path.taskId, and 401 without a subject', async () => {
    const bad = await cancel('../etc');
    expect(bad.statusCode).toBe(400);
    expect(issueFields(bad.body)).toEqual(['path.taskId']);
    expect((await cancel('t-abcdefgh', null)).statusCode).toBe(401);
  });
});
