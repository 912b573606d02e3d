import { describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError } from '#core/errors.ts';
import { completeJob } from '#core/jobs/complete-job.ts';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import { cancelTask } from '#core/tasks/cancel-task.ts';
import { submitTask } from '#core/tasks/submit-task.ts';
import { finalizeTask, waitForJobs } from '#core/tasks/task-workflow.ts';
import { inMemoryDeps } from '#test/support/in-memory-ports.ts';
import {
  addPilot,
  addSite,
  alice,
  bob,
  claimed,
  generationSpec,
  jobOf,
  pilotToken,
  report,
  runningTask,
  taskOf,
} from '../scenario.ts';

async function setup(jobs = 3) {
  const deps = inMemoryDeps({ settings: { enqueuePageSize: 2 } });
  await addSite(deps);
  const taskId = await runningTask(deps, generationSpec(jobs));
  const pilot = await addPilot(deps);
  return { deps, taskId, pilot };
}

describe('cancelTask', () => {
  it('cancels the queued jobs and leaves the claimed one to its pilot', async () => {
    const { deps, taskId, pilot } = await setup(3);
    await claimed(deps, pilot, taskId, 1);
    expect(await cancelTask(deps, alice, taskId)).toEqual({
      taskId,
      state: 'running',
      cancelRequested: true,
    });
    expect(deps.jobs.all().map((j) => j.state)).toEqual(['cancelled', 'starting', 'cancelled']);
    expect((await jobOf(deps, taskId, 0)).errorMessage).toBe('cancelled by its owner');
    const task = await taskOf(deps, taskId);
    expect(task.cancelRequested).toBe(true);
    expect(task.counts).toMatchObject({ cancelled: 2, starting: 1, queued: 0 });
  });

  it('cancels queued jobs over more than one page', async () => {
    const { deps, taskId } = await setup(450);
    await cancelTask(deps, alice, taskId);
    expect((await taskOf(deps, taskId)).counts).toMatchObject({ cancelled: 450, queued: 0 });
  });

  it('releases the workflow once the running job reports its end', async () => {
    const { deps, taskId, pilot } = await setup(2);
    await claimed(deps, pilot, taskId, 0);
    await waitForJobs(deps, taskId, 'token-1');
    await cancelTask(deps, alice, taskId);
    expect(deps.workflow.releases).toEqual([]);
    await completeJob(
      deps,
      pilotToken('cern'),
      pilot.pilotId,
      report(taskId, 0, 1, PILOT_ERROR_CODES.CANCELLED),
    );
    expect(deps.workflow.releases).toEqual([{ token: 'token-1', output: { taskId } }]);
    expect(await finalizeTask(deps, taskId)).toEqual({ state: 'cancelled' });
  });

  it('releases the workflow at once when every job was queued', async () => {
    const { deps, taskId } = await setup(2);
    await waitForJobs(deps, taskId, 'token-1');
    await cancelTask(deps, alice, taskId);
    expect(deps.workflow.releases).toEqual([{ token: 'token-1', output: { taskId } }]);
  });

  it('cancels a task that has no jobs yet', async () => {
    const deps = inMemoryDeps();
    const { taskId } = await submitTask(deps, alice, generationSpec(2));
    expect(await cancelTask(deps, alice, taskId)).toEqual({
      taskId,
      state: 'submitted',
      cancelRequested: true,
    });
    expect((await taskOf(deps, taskId)).cancelRequested).toBe(true);
  });

  it("throws NotFoundError for another user's task and changes nothing", async () => {
    const { deps, taskId } = await setup(2);
    await expect(cancelTask(deps, bob, taskId)).rejects.toBeInstanceOf(NotFoundError);
    expect((await taskOf(deps, taskId)).cancelRequested).toBe(false);
    expect(deps.jobs.all().map((j) => j.state)).toEqual(['queued', 'queued']);
  });

  it('throws NotFoundError for an unknown task', async () => {
    await expect(cancelTask(inMemoryDeps(), alice, 't-nothere')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('throws ConflictError for a final task', async () => {
    const { deps, taskId, pilot } = await setup(1);
    await claimed(deps, pilot, taskId, 0);
    await completeJob(deps, pilotToken('cern'), pilot.pilotId, report(taskId, 0, 1));
    await finalizeTask(deps, taskId);
    const error = await cancelTask(deps, alice, taskId).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as Error).message).toContain('already done');
    expect((await taskOf(deps, taskId)).cancelRequested).toBe(false);
  });
});
