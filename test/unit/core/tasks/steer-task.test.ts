import { describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError } from '#core/errors.ts';
import { claimJob } from '#core/jobs/claim-job.ts';
import { cancelTask } from '#core/tasks/cancel-task.ts';
import { steerTask } from '#core/tasks/steer-task.ts';
import { resumeJobs, waitForJobs } from '#core/tasks/task-workflow.ts';
import { inMemoryDeps } from '#test/support/in-memory-ports.ts';
import {
  addPilot,
  addSite,
  alice,
  bob,
  claimed,
  claimOf,
  generationSpec,
  jobRef,
  pilotToken,
  runningTask,
  taskOf,
  taskWithPilot,
} from '../scenario.ts';

const setup = taskWithPilot;

describe('steerTask', () => {
  it('pauses dispatch (claims answer paused and start nothing) and resumes it', async () => {
    const { deps, taskId, pilotId } = await setup();
    expect(await steerTask(deps, alice, taskId, { paused: true })).toEqual({
      taskId,
      state: 'running',
      paused: true,
      priority: 500,
    });
    const refused = await claimJob(deps, pilotToken('cern'), pilotId, claimOf(taskId, 0));
    expect(refused).toMatchObject({ outcome: 'paused' });
    expect(await deps.jobs.get(taskId, 0)).toBeUndefined();
    expect((await taskOf(deps, taskId)).paused).toBe(true);

    expect((await steerTask(deps, alice, taskId, { paused: false })).paused).toBe(false);
    await claimed(deps, pilotId, jobRef(taskId, 0));
  });

  it("resumes through the workflow: the queued jobs' messages go out again, page by page, and only theirs", async () => {
    const deps = inMemoryDeps();
    await addSite(deps);
    const taskId = await runningTask(deps, generationSpec(4));
    const pilotId = await addPilot(deps);
    await claimed(deps, pilotId, jobRef(taskId, 1));
    await waitForJobs(deps, taskId, 'token-1');
    await steerTask(deps, alice, taskId, { paused: true });
    expect(deps.workflow.releases).toEqual([]);
    deps.queue.sent.length = 0;

    await steerTask(deps, alice, taskId, { paused: false });
    expect(deps.workflow.releases).toEqual([
      { token: 'token-1', output: { taskId, sweep: false, resume: true } },
    ]);
    expect((await taskOf(deps, taskId)).resumePending).toBe(true);
    expect(await resumeJobs(deps, taskId, 0)).toEqual({ nextIndex: 4, done: true });
    // Job 1 runs: no message for it.
    expect(deps.queue.sent.map((m) => [m.jobIndex, m.attempt])).toEqual([
      [0, 1],
      [2, 1],
      [3, 1],
    ]);
    expect((await taskOf(deps, taskId)).resumePending).toBe(false);
  });

  it('sends nothing on resume while the task is paused again, and keeps the resume pending', async () => {
    const { deps, taskId } = await setup();
    await steerTask(deps, alice, taskId, { paused: true });
    await steerTask(deps, alice, taskId, { paused: false });
    await steerTask(deps, alice, taskId, { paused: true });
    deps.queue.sent.length = 0;
    expect(await resumeJobs(deps, taskId, 0)).toEqual({ nextIndex: 0, done: true });
    expect(deps.queue.sent).toEqual([]);
    expect((await taskOf(deps, taskId)).resumePending).toBe(true);
  });

  it('sets the priority over the spec', async () => {
    const { deps, taskId } = await setup();
    expect((await steerTask(deps, alice, taskId, { priority: 900 })).priority).toBe(900);
    expect((await taskOf(deps, taskId)).priority).toBe(900);
  });

  it("refuses another user's task (404) and a task that ended (409), changing nothing", async () => {
    const { deps, taskId } = await setup();
    await expect(steerTask(deps, bob, taskId, { paused: true })).rejects.toBeInstanceOf(NotFoundError);
    expect((await taskOf(deps, taskId)).paused).toBeUndefined();
    await cancelTask(deps, alice, taskId);
    await deps.tasks.transition(taskId, 'cancel', { at: '2026-01-01T00:00:00.000Z' });
    await expect(steerTask(deps, alice, taskId, { paused: true })).rejects.toBeInstanceOf(ConflictError);
    expect((await taskOf(deps, taskId)).paused).toBeUndefined();
  });
});
