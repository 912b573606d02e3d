import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CancelTaskResponse } from '#core/api/tasks.ts';
import { createHandler } from '#lambdas/tasks/cancel-task/handler.ts';
import {
  createHandlerHarness,
  type HandlerHarness,
  httpEvent,
  invokeHttp,
  issueFields,
} from '#test/support/handler-harness.ts';
import {
  claim,
  claimed,
  type ErrorReply,
  generationSpec,
  nth,
  refOf,
  registerPilot,
  runAttempt,
  runningTask,
  submitTask,
  USER_SCOPES,
  waitForJobs,
} from '../task-flow.ts';

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
  return invokeHttp<CancelTaskResponse & ErrorReply>(
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
  it('answers 202 at once and wakes the workflow to sweep the running jobs', async () => {
    const { taskId, messages } = await runningTask(h, generationSpec(3));
    await claimed(h, pilotId, refOf(nth(messages, 0)));
    await h.settleJobChanges();
    await waitForJobs(h, taskId, 'token-cancel-1');
    expect(h.workflow.releasesOf(taskId)).toEqual([]);
    const now = h.clock.advance(1000);

    const reply = await cancel(taskId);

    expect(reply.statusCode).toBe(202);
    expect(reply.body).toEqual({ taskId, state: 'running', cancelRequested: true });
    expect(await h.deps.tasks.getHead(taskId)).toMatchObject({
      state: 'running',
      cancelRequested: true,
      cancelSwept: false,
      updatedAt: now.toISOString(),
    });
    expect(h.workflow.releasesOf(taskId)).toEqual([
      { token: 'token-cancel-1', output: { taskId, sweep: true } },
    ]);
    // Jobs that never ran count as cancelled; no job record was written for them.
    expect((await h.deps.tasks.get(taskId))?.counts).toMatchObject({ running: 1, queued: 0, cancelled: 2 });
    expect(await h.deps.jobs.get(taskId, 1)).toBeUndefined();
  });

  it('makes later claims of the task answer cancelled', async () => {
    const { taskId, messages } = await runningTask(h, generationSpec(2));
    expect((await cancel(taskId)).statusCode).toBe(202);
    expect((await claim(h, pilotId, refOf(nth(messages, 1)))).body).toEqual({
      outcome: 'cancelled',
      reason: 'the task was cancelled',
    });
  });

  it('releases the workflow to sweep even when no job seems to run (the counters may lag a claim)', async () => {
    const { taskId, messages } = await runningTask(h, generationSpec(2));
    await runAttempt(h, pilotId, refOf(nth(messages, 0)));
    await h.settleJobChanges();
    await waitForJobs(h, taskId, 'token-cancel-2');

    expect((await cancel(taskId)).statusCode).toBe(202);

    expect(h.workflow.releasesOf(taskId)).toEqual([
      { token: 'token-cancel-2', output: { taskId, sweep: true } },
    ]);
    expect((await h.deps.tasks.get(taskId))?.counts).toMatchObject({ finished: 1, cancelled: 1 });
  });

  it('cancels a task still submitted (its workflow not waiting yet) and takes a second cancel as the first', async () => {
    const taskId = await submitTask(h, generationSpec(2));
    expect((await cancel(taskId)).body).toEqual({ taskId, state: 'submitted', cancelRequested: true });
    expect((await cancel(taskId)).body).toEqual({ taskId, state: 'submitted', cancelRequested: true });
    expect(h.workflow.releasesOf(taskId)).toEqual([]);
    expect((await h.deps.tasks.get(taskId))?.counts).toMatchObject({ defined: 0, cancelled: 2 });
  });

  it('answers 409 to the cancel of a task that ended', async () => {
    const taskId = await submitTask(h, generationSpec(1));
    await h.deps.tasks.transition(taskId, 'fail', { at: h.clock.now().toISOString(), reason: 'test' });
    const reply = await cancel(taskId);
    expect(reply.statusCode).toBe(409);
    expect(reply.body.error).toEqual({ code: 'CONFLICT', message: `task ${taskId} is already failed` });
    expect((await h.deps.tasks.getHead(taskId))?.cancelRequested).toBe(false);
  });

  it("answers 404 to another user's task and to no task, changing nothing", async () => {
    const taskId = await submitTask(h, generationSpec(1));
    const other = await cancel(taskId, 'mallory');
    expect(other.statusCode).toBe(404);
    expect(other.body.error.code).toBe('NOT_FOUND');
    expect((await h.deps.tasks.getHead(taskId))?.cancelRequested).toBe(false);
    expect((await cancel('t-neversubmitted')).statusCode).toBe(404);
  });

  it('answers 400 naming path.taskId and 401 to a token without a subject', async () => {
    const bad = await cancel('task-1');
    expect(bad.statusCode).toBe(400);
    expect(issueFields(bad.body)).toEqual(['path.taskId']);
    const taskId = await submitTask(h, generationSpec(1));
    expect((await cancel(taskId, null)).statusCode).toBe(401);
    expect((await h.deps.tasks.getHead(taskId))?.cancelRequested).toBe(false);
  });
});
