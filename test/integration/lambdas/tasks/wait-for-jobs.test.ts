import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler } from '#lambdas/tasks/wait-for-jobs/handler.ts';
import { createHandlerHarness, type HandlerHarness, invoke } from '#test/support/handler-harness.ts';
import { generationSpec, refOf, registerPilot, runAttempt, runningTask } from '../task-flow.ts';

let h: HandlerHarness;
let pilotId: string;

beforeAll(async () => {
  h = await createHandlerHarness();
  pilotId = await registerPilot(h);
});

afterAll(async () => {
  await h?.close();
});

function waitForJobs(input: unknown) {
  return invoke(createHandler(h.deps), input, 'wait-for-jobs');
}

describe('wait-for-jobs handler', () => {
  it('stores the task token while jobs are not final, and releases nothing', async () => {
    const { taskId } = await runningTask(h, generationSpec(2));

    expect(await waitForJobs({ taskId, taskToken: 'token-running-1' })).toEqual({ taskId });

    expect(await h.taskItem(taskId)).toMatchObject({ waitToken: 'token-running-1' });
    expect((await h.taskItem(taskId))?.waitReleased).toBeUndefined();
    expect(h.workflow.releasesOf(taskId)).toEqual([]);
    // The token is the store's business: the task as the API shows it does not carry it.
    expect(await h.deps.tasks.get(taskId)).not.toHaveProperty('waitToken');
  });

  it('releases at once, exactly once, when every job is already final', async () => {
    const { taskId, messages } = await runningTask(h, generationSpec(2));
    for (const message of messages) await runAttempt(h, pilotId, refOf(message));
    expect(h.workflow.releasesOf(taskId)).toEqual([]);

    await waitForJobs({ taskId, taskToken: 'token-final-1' });
    expect(h.workflow.releasesOf(taskId)).toEqual([{ token: 'token-final-1', output: { taskId } }]);

    // A redelivered wait step with the same token does not release again.
    await waitForJobs({ taskId, taskToken: 'token-final-1' });
    expect(h.workflow.releasesOf(taskId)).toHaveLength(1);

    // A restarted execution waits with a new token, which is released too.
    await waitForJobs({ taskId, taskToken: 'token-final-2' });
    expect(h.workflow.releasesOf(taskId).map((r) => r.token)).toEqual(['token-final-1', 'token-final-2']);
  });

  it('rejects an unknown task and bad input by name', async () => {
    await expect(waitForJobs({ taskId: 't-unknown00000', taskToken: 'x' })).rejects.toMatchObject({
      name: 'NotFoundError',
    });
    await expect(waitForJobs({ taskId: 't-unknown00000', taskToken: '' })).rejects.toMatchObject({
      name: 'ValidationError',
      issues: [{ field: 'input.taskToken', message: expect.any(String) }],
    });
    await expect(waitForJobs({ taskId: 't-unknown00000' })).rejects.toMatchObject({
      name: 'ValidationError',
    });
  });
});
