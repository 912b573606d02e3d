import { describe, expect, it, vi } from 'vitest';
import { ConflictError, NotFoundError } from '#core/errors.ts';
import { cancelTask } from '#core/tasks/cancel-task.ts';
import { cancelJobs, finalizeTask, waitForJobs } from '#core/tasks/task-workflow.ts';
import { inMemoryDeps, settleJobChanges } from '#test/support/in-memory-ports.ts';
import { addPilot, addSite, alice, bob, claimed, generationSpec, runningTask, taskOf } from '../scenario.ts';

const LATER = '2026-01-01T00:10:00.000Z';

async function setup(jobs = 3) {
  const deps = inMemoryDeps();
  await addSite(deps);
  const taskId = await runningTask(deps, generationSpec(jobs));
  deps.clock.set(LATER);
  return { deps, taskId };
}

describe('cancelTask', () => {
  it('answers at once with the state it saw, and sets the cancel flag', async () => {
    const { deps, taskId } = await setup();
    expect(await cancelTask(deps, alice, taskId)).toEqual({
      taskId,
      state: 'running',
      cancelRequested: true,
    });
    expect(await taskOf(deps, taskId)).toMatchObject({
      cancelRequested: true,
      cancelSwept: false,
      updatedAt: LATER,
    });
  });

  it('writes nothing per job, whatever the size of the task', async () => {
    const { deps, taskId } = await setup(50);
    const update = vi.spyOn(deps.jobs, 'update');
    const list = vi.spyOn(deps.jobs, 'list');
    const addKills = vi.spyOn(deps.leases, 'addKills');
    await cancelTask(deps, alice, taskId);
    expect(update).not.toHaveBeenCalled();
    expect(list).not.toHaveBeenCalled();
    expect(addKills).not.toHaveBeenCalled();
  });

  it('wakes the workflow to sweep when jobs are running', async () => {
    const { deps, taskId } = await setup();
    const pilotId = await addPilot(deps);
    await claimed(deps, pilotId, { taskId, jobIndex: 0, attempt: 1 });
    await settleJobChanges(deps);
    await waitForJobs(deps, taskId, 'wait-1');
    await cancelTask(deps, alice, taskId);
    expect(deps.workflow.releases).toEqual([{ token: 'wait-1', output: { taskId, sweep: true } }]);
  });

  it('sweeps even when no job seems to run (the counters may not show a claim yet), then the task ends cancelled', async () => {
    const { deps, taskId } = await setup();
    await waitForJobs(deps, taskId, 'wait-1');
    await cancelTask(deps, alice, taskId);
    expect(deps.workflow.releases).toEqual([{ token: 'wait-1', output: { taskId, sweep: true } }]);
    await cancelJobs(deps, taskId, 0);
    await waitForJobs(deps, taskId, 'wait-2');
    expect(deps.workflow.releases.at(-1)).toEqual({ token: 'wait-2', output: { taskId, sweep: false } });
    expect(await finalizeTask(deps, taskId)).toEqual({ state: 'cancelled' });
    expect((await taskOf(deps, taskId)).counts.cancelled).toBe(3);
  });

  it('releases nothing before the workflow waits (its enqueue step sees the flag)', async () => {
    const { deps, taskId } = await setup();
    await cancelTask(deps, alice, taskId);
    expect(deps.workflow.releases).toEqual([]);
  });

  it('answers again when the task is cancelled twice', async () => {
    const { deps, taskId } = await setup();
    await cancelTask(deps, alice, taskId);
    expect(await cancelTask(deps, alice, taskId)).toEqual({
      taskId,
      state: 'running',
      cancelRequested: true,
    });
  });

  it('throws ConflictError for a task that already ended', async () => {
    const { deps, taskId } = await setup();
    await deps.tasks.transition(taskId, 'fail', { at: LATER, reason: 'boom' });
    await expect(cancelTask(deps, alice, taskId)).rejects.toThrow(
      new ConflictError(`task ${taskId} is already failed`),
    );
    expect((await taskOf(deps, taskId)).cancelRequested).toBe(false);
  });

  it("throws NotFoundError for another user's task, which stays as it was", async () => {
    const { deps, taskId } = await setup();
    await expect(cancelTask(deps, bob, taskId)).rejects.toBeInstanceOf(NotFoundError);
    expect((await taskOf(deps, taskId)).cancelRequested).toBe(false);
  });
});
