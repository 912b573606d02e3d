import { describe, expect, it } from 'vitest';
import { NotFoundError } from '#core/errors.ts';
import { emptyJobCounts } from '#core/jobs/job-counts.ts';
import { getTask, listTasks, taskSummary } from '#core/tasks/read-tasks.ts';
import { submitTask } from '#core/tasks/submit-task.ts';
import { DEFAULT_START, inMemoryDeps, settleJobChanges } from '#test/support/in-memory-ports.ts';
import { addPilot, addSite, alice, bob, claimed, generationSpec, runningTask } from '../scenario.ts';

describe('getTask', () => {
  it('shows the task with its spec, history and job counts, and nothing of its workflow token', async () => {
    const deps = inMemoryDeps();
    await addSite(deps);
    const spec = generationSpec(3);
    const taskId = await runningTask(deps, spec);
    await deps.tasks.storeWaitToken(taskId, 'secret-token');
    const pilotId = await addPilot(deps);
    await claimed(deps, pilotId, { taskId, jobIndex: 0, attempt: 1 });
    await settleJobChanges(deps);
    const view = await getTask(deps, alice, taskId);
    expect(view).toEqual({
      taskId,
      name: 'gen',
      owner: 'alice',
      state: 'running',
      jobCount: 3,
      jobsEnqueued: 3,
      counts: { ...emptyJobCounts(), queued: 2, running: 1 },
      siteIds: ['cern'],
      cancelRequested: false,
      createdAt: DEFAULT_START,
      updatedAt: DEFAULT_START,
      spec,
      history: [
        { state: 'submitted', at: DEFAULT_START },
        { state: 'splitting', at: DEFAULT_START },
        { state: 'running', at: DEFAULT_START },
      ],
    });
    expect(JSON.stringify(view)).not.toContain('secret-token');
  });

  it("throws NotFoundError for another user's task and for an unknown task", async () => {
    const deps = inMemoryDeps();
    const { taskId } = await submitTask(deps, alice, generationSpec(1));
    await expect(getTask(deps, bob, taskId)).rejects.toThrow(new NotFoundError(`task ${taskId} not found`));
    await expect(getTask(deps, alice, 't-999999')).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('listTasks', () => {
  it("lists the caller's tasks only, newest first, page by page", async () => {
    const deps = inMemoryDeps();
    for (const owner of [alice, bob, alice, alice]) {
      await submitTask(deps, owner, generationSpec(1));
      deps.clock.advance(1000);
    }
    const first = await listTasks(deps, alice, { limit: 2 });
    expect(first.items.map((t) => t.taskId)).toEqual(['t-000004', 't-000003']);
    expect(first.items[0]).not.toHaveProperty('spec');
    const second = await listTasks(deps, alice, { limit: 2, nextToken: first.nextToken });
    expect(second).toEqual({
      items: [expect.objectContaining({ taskId: 't-000001', counts: { ...emptyJobCounts(), defined: 1 } })],
    });
  });
});

describe('taskSummary', () => {
  it('gives the reason and end only when the task has them', async () => {
    const deps = inMemoryDeps();
    const { taskId } = await submitTask(deps, alice, generationSpec(1));
    await deps.tasks.transition(taskId, 'fail', { at: DEFAULT_START, reason: 'boom' });
    const progress = await deps.tasks.getProgress(taskId);
    if (progress === undefined) return expect.fail('task not stored');
    expect(taskSummary(progress)).toMatchObject({ state: 'failed', reason: 'boom', endedAt: DEFAULT_START });
    expect(taskSummary(progress)).not.toHaveProperty('waitToken');
  });
});
