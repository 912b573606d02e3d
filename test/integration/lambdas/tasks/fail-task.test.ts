import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler } from '#lambdas/tasks/fail-task/handler.ts';
import { createHandler as finalizeTaskHandler } from '#lambdas/tasks/finalize-task/handler.ts';
import { createHandler as splitTaskHandler } from '#lambdas/tasks/split-task/handler.ts';
import { createHandlerHarness, type HandlerHarness, invoke } from '#test/support/handler-harness.ts';
import {
  generationSpec,
  nth,
  refOf,
  registerPilot,
  runAttempt,
  runningTask,
  submitTask,
} from '../task-flow.ts';

let h: HandlerHarness;

beforeAll(async () => {
  h = await createHandlerHarness();
});

afterAll(async () => {
  await h?.close();
});

function failTask(input: unknown) {
  return invoke(createHandler(h.deps), input as { taskId: string }, 'fail-task');
}

/** The `$.error` Step Functions catches from a Lambda function that threw `error`. */
function caughtLambdaError(error: Error): { Error: string; Cause: string } {
  return {
    Error: error.name,
    Cause: JSON.stringify({
      errorType: error.name,
      errorMessage: error.message,
      trace: (error.stack ?? '').split('\n'),
    }),
  };
}

describe('fail-task handler', () => {
  it('fails a task that split could not broker, with the error message from the Lambda Cause', async () => {
    const taskId = await submitTask(h, generationSpec(2, { sites: { allow: ['nowhere'] } }));
    const thrown = await invoke(splitTaskHandler(h.deps), { taskId }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(thrown?.name).toBe('NoSiteError');
    h.clock.advance(2000);

    expect(await failTask({ taskId, error: caughtLambdaError(thrown as Error) })).toEqual({
      state: 'failed',
    });

    const task = await h.deps.tasks.get(taskId);
    expect(task).toMatchObject({
      state: 'failed',
      reason: 'NoSiteError: no site can run the jobs: test-site (not in sites.allow)',
      endedAt: h.clock.now().toISOString(),
    });
    expect(task?.reason).not.toContain('trace');
    expect(task?.history.map((c) => c.state)).toEqual(['submitted', 'failed']);
  });

  it('takes a plain-text Cause as it is, and names a missing error generically', async () => {
    const timedOut = await submitTask(h, generationSpec(1));
    await failTask({ taskId: timedOut, error: { Error: 'States.Timeout', Cause: 'the task timed out' } });
    expect((await h.deps.tasks.get(timedOut))?.reason).toBe('States.Timeout: the task timed out');

    const unknown = await submitTask(h, generationSpec(1));
    await failTask({ taskId: unknown });
    expect(await h.deps.tasks.get(unknown)).toMatchObject({
      state: 'failed',
      reason: 'the task workflow failed',
    });
  });

  it('fails a running task too, whatever step stopped it', async () => {
    const { taskId } = await runningTask(h, generationSpec(2));
    const error = new Error('enqueue gave up');
    error.name = 'TransientError';
    expect(await failTask({ taskId, error: caughtLambdaError(error) })).toEqual({ state: 'failed' });
    expect(await h.deps.tasks.get(taskId)).toMatchObject({
      state: 'failed',
      reason: 'TransientError: enqueue gave up',
    });
  });

  it('ends a task its owner is cancelling as cancelled, not failed', async () => {
    const taskId = await submitTask(h, generationSpec(1));
    await h.deps.tasks.requestCancel(taskId, h.clock.now().toISOString());
    expect(await failTask({ taskId, error: { Error: 'States.TaskFailed', Cause: 'x' } })).toEqual({
      state: 'cancelled',
    });
    expect(await h.deps.tasks.get(taskId)).toMatchObject({
      state: 'cancelled',
      reason: 'cancelled by its owner',
    });
  });

  it('leaves a final task as it is', async () => {
    const pilotId = await registerPilot(h);
    const { taskId, messages } = await runningTask(h, generationSpec(1));
    await runAttempt(h, pilotId, refOf(nth(messages, 0)));
    await h.settleJobChanges();
    expect(await invoke(finalizeTaskHandler(h.deps), { taskId })).toEqual({ state: 'done' });
    const before = await h.deps.tasks.get(taskId);

    expect(await failTask({ taskId, error: { Error: 'States.TaskFailed', Cause: 'late' } })).toEqual({
      state: 'done',
    });
    expect(await h.deps.tasks.get(taskId)).toEqual(before);
  });

  it('rejects an unknown task and bad input by name', async () => {
    await expect(failTask({ taskId: 't-unknown00000' })).rejects.toMatchObject({ name: 'NotFoundError' });
    await expect(failTask({ taskId: 't-unknown00000', error: { Cause: 42 } })).rejects.toMatchObject({
      name: 'ValidationError',
      issues: [{ field: 'input.error.Cause', message: expect.any(String) }],
    });
  });
});
