import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler } from '#lambdas/tasks/wait-for-jobs/handler.ts';
import { createHandlerHarness, type HandlerHarness, invoke } from '#test/support/handler-harness.ts';
import { claimed, generationSpec, nth, refOf, registerPilot, runAttempt, runningTask } from '../task-flow.ts';

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
  return invoke(createHandler(h.deps), input as { taskId: string; taskToken: string }, 'wait-for-jobs');
}

describe('wait-for-jobs handler', () => {
  it('stores the task token while jobs are not final, and releases nothing', async () => {
    const { taskId } = await runningTask(h, generationSpec(2));

    expect(await waitForJobs({ taskId, taskToken: 'token-running-1' })).toEqual({ taskId });

    expect(await h.taskItem(taskId)).toMatchObject({ waitToken: 'token-running-1' });
    expect(h.workflow.releasesOf(taskId)).toEqual([]);
    // The token is the store's business: the task as the API shows it does not carry it.
    expect(await h.deps.tasks.get(taskId)).not.toHaveProperty('waitToken');
  });

  it('releases at once when every job is already final, and a restarted execution with its new token', async () => {
    const { taskId, messages } = await runningTask(h, generationSpec(2));
    for (const message of messages) await runAttempt(h, pilotId, refOf(message));
    await h.settleJobChanges();
    expect(h.workflow.releasesOf(taskId)).toEqual([]);

    await waitForJobs({ taskId, taskToken: 'token-final-1' });
    expect(h.workflow.releasesOf(taskId)).toEqual([
      { token: 'token-final-1', output: { taskId, sweep: false } },
    ]);

    await waitForJobs({ taskId, taskToken: 'token-final-2' });
    expect(h.workflow.releasesOf(taskId).map((r) => r.token)).toEqual(['token-final-1', 'token-final-2']);
  });

  it('releases at once to sweep a cancelled task whose running jobs were not told yet, then waits for them', async () => {
    const { taskId, messages } = await runningTask(h, generationSpec(2));
    await claimed(h, pilotId, refOf(nth(messages, 0)));
    await h.settleJobChanges();
    await h.deps.tasks.requestCancel(taskId, h.clock.now().toISOString());

    await waitForJobs({ taskId, taskToken: 'token-sweep' });
    expect(h.workflow.releasesOf(taskId)).toEqual([
      { token: 'token-sweep', output: { taskId, sweep: true } },
    ]);

    // Swept: the next wait waits for the running job.
    await h.deps.tasks.markCancelSwept(taskId, h.clock.now().toISOString());
    await waitForJobs({ taskId, taskToken: 'token-after-sweep' });
    expect(h.workflow.releasesOf(taskId)).toHaveLength(1);
  });

  it('releases a cancelled task to sweep even with nothing counted as running', async () => {
    const { taskId } = await runningTask(h, generationSpec(2));
    await h.deps.tasks.requestCancel(taskId, h.clock.now().toISOString());
    await waitForJobs({ taskId, taskToken: 'token-cancelled' });
    expect(h.workflow.releasesOf(taskId)).toEqual([
      { token: 'token-cancelled', output: { taskId, sweep: true } },
    ]);
  });

  it('refuses an unknown task and bad input by name', async () => {
    await expect(waitForJobs({ taskId: 't-unknown00000', taskToken: 'x' })).rejects.toMatchObject({
      name: 'NotFoundError',
    });
    await expect(waitForJobs({ taskId: 't-unknown00000', taskToken: '' })).rejects.toMatchObject({
      name: 'ValidationError',
      issues: [{ field: 'input.taskToken', message: expect.any(String) }],
    });
    expect(await h.taskItem('t-unknown00000')).toBeUndefined();
  });
});
