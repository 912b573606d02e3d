import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCOPES } from '#core/api/common.ts';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import { createHandler as cancelTaskHandler } from '#lambdas/tasks/cancel-task/handler.ts';
import { createHandler } from '#lambdas/tasks/finalize-task/handler.ts';
import { createHandler as waitForJobsHandler } from '#lambdas/tasks/wait-for-jobs/handler.ts';
import {
  createHandlerHarness,
  type HandlerHarness,
  httpEvent,
  invoke,
  invokeHttp,
} from '#test/support/handler-harness.ts';
import { generationSpec, nth, refOf, registerPilot, runAttempt, runningTask } from '../task-flow.ts';

let h: HandlerHarness;
let pilotId: string;

beforeAll(async () => {
  h = await createHandlerHarness();
  pilotId = await registerPilot(h);
});

afterAll(async () => {
  await h?.close();
});

function finalize(taskId: string) {
  return invoke(createHandler(h.deps), { taskId }, 'finalize-task');
}

/** A running task whose jobs end with the given pilot error codes (one attempt each). */
async function taskEndingWith(codes: number[]): Promise<string> {
  const { taskId, messages } = await runningTask(h, generationSpec(codes.length, { maxAttempts: 1 }));
  await invoke(waitForJobsHandler(h.deps), { taskId, taskToken: `token-${taskId}` });
  for (const [i, code] of codes.entries()) {
    const message = messages[i];
    if (message === undefined) throw new Error(`no message for job ${i}`);
    await runAttempt(h, pilotId, refOf(message), code === 0 ? {} : { pilotErrorCode: code, exitCode: 1 });
  }
  await h.settleJobChanges();
  expect(h.workflow.releasesOf(taskId)).toHaveLength(1);
  return taskId;
}

describe('finalize-task handler', () => {
  it('ends a task whose jobs all finished as done', async () => {
    const taskId = await taskEndingWith([0, 0, 0]);
    h.clock.advance(5000);

    expect(await finalize(taskId)).toEqual({ state: 'done' });

    const task = await h.deps.tasks.get(taskId);
    expect(task).toMatchObject({ state: 'done', endedAt: h.clock.now().toISOString() });
    expect(task?.reason).toBeUndefined();
    expect(task?.counts).toMatchObject({ finished: 3, failed: 0, queued: 0 });
    expect(task?.history.map((c) => c.state)).toEqual(['submitted', 'splitting', 'running', 'done']);
  });

  it('ends a task with some failed jobs as partial, with the counts as reason', async () => {
    const failed = PILOT_ERROR_CODES.PAYLOAD_FAILED;
    const taskId = await taskEndingWith([0, failed, failed]);
    expect(await finalize(taskId)).toEqual({ state: 'partial' });
    expect(await h.deps.tasks.get(taskId)).toMatchObject({
      state: 'partial',
      reason: '1 finished, 2 failed, 0 cancelled of 3',
    });
  });

  it('ends a task whose jobs all failed as failed', async () => {
    const taskId = await taskEndingWith([
      PILOT_ERROR_CODES.MEMORY_EXCEEDED,
      PILOT_ERROR_CODES.PAYLOAD_FAILED,
    ]);
    expect(await finalize(taskId)).toEqual({ state: 'failed' });
    expect(await h.deps.tasks.get(taskId)).toMatchObject({
      state: 'failed',
      reason: '0 finished, 2 failed, 0 cancelled of 2',
    });
  });

  it('ends a cancelled task as cancelled', async () => {
    const { taskId } = await runningTask(h, generationSpec(2));
    await invoke(waitForJobsHandler(h.deps), { taskId, taskToken: 'token-cancel' });
    const cancel = await invokeHttp(
      cancelTaskHandler(h.deps),
      httpEvent({
        method: 'POST',
        path: '/tasks/{taskId}/cancel',
        pathParameters: { taskId },
        scopes: [SCOPES.cancel],
      }),
    );
    expect(cancel.statusCode).toBe(202);
    expect(h.workflow.releasesOf(taskId)).toHaveLength(1);

    expect(await finalize(taskId)).toEqual({ state: 'cancelled' });
    expect(await h.deps.tasks.get(taskId)).toMatchObject({ state: 'cancelled', counts: { cancelled: 2 } });
  });

  it('counts jobs from the change feed: a job that ended is counted only once the feed went through it', async () => {
    const { taskId, messages } = await runningTask(h, generationSpec(1, { maxAttempts: 1 }));
    await runAttempt(h, pilotId, refOf(nth(messages, 0)));
    // Not counted yet: the task is not done.
    expect((await h.deps.tasks.get(taskId))?.counts).toMatchObject({ finished: 0, queued: 1 });
    await h.settleJobChanges();
    expect(await finalize(taskId)).toEqual({ state: 'done' });
  });

  it('changes nothing when run again on a final task', async () => {
    const taskId = await taskEndingWith([0]);
    await finalize(taskId);
    const before = await h.deps.tasks.get(taskId);
    h.clock.advance(60_000);
    expect(await finalize(taskId)).toEqual({ state: 'done' });
    expect(await h.deps.tasks.get(taskId)).toEqual(before);
  });

  it('rejects an unknown task and bad input by name', async () => {
    await expect(finalize('t-unknown00000')).rejects.toMatchObject({ name: 'NotFoundError' });
    await expect(invoke(createHandler(h.deps), { id: 't-unknown00000' } as never)).rejects.toMatchObject({
      name: 'ValidationError',
      issues: [{ field: 'input.taskId', message: expect.any(String) }],
    });
  });
});
