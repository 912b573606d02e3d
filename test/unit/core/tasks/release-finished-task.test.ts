import { describe, expect, it } from 'vitest';
import { allJobsFinal, releaseFinishedTask } from '#core/tasks/release-finished-task.ts';
import { emptyJobCounts, type JobCounts, type Task } from '#core/tasks/task.ts';
import { parseTaskSpec } from '#core/tasks/task-spec.ts';
import { DEFAULT_START, inMemoryDeps } from '#test/support/in-memory-ports.ts';
import { generationSpec } from '../scenario.ts';

function task(fields: Partial<Omit<Task, 'counts'>> & { counts?: Partial<JobCounts> }): Task {
  const { counts, ...rest } = fields;
  return {
    taskId: 't-000001',
    owner: 'alice',
    name: 'gen',
    spec: parseTaskSpec(generationSpec(10)),
    state: 'running',
    jobCount: 10,
    jobsEnqueued: 10,
    counts: { ...emptyJobCounts(), ...counts },
    siteIds: ['cern'],
    cancelRequested: false,
    createdAt: DEFAULT_START,
    updatedAt: DEFAULT_START,
    history: [],
    ...rest,
  };
}

describe('allJobsFinal', () => {
  it('holds when every job of the task is finished, failed or cancelled', () => {
    expect(allJobsFinal(task({ counts: { finished: 5, failed: 3, cancelled: 2 } }))).toBe(true);
  });

  it('does not hold while one job is not final', () => {
    expect(allJobsFinal(task({ counts: { finished: 5, failed: 3, cancelled: 1, running: 1 } }))).toBe(false);
  });

  it('counts the jobs not enqueued yet when the task is not cancelled', () => {
    expect(allJobsFinal(task({ jobsEnqueued: 4, counts: { finished: 4, defined: 6 } }))).toBe(false);
  });

  it('counts only the enqueued jobs when the task was cancelled', () => {
    expect(
      allJobsFinal(task({ cancelRequested: true, jobsEnqueued: 4, counts: { finished: 1, cancelled: 3 } })),
    ).toBe(true);
    expect(
      allJobsFinal(task({ cancelRequested: true, jobsEnqueued: 4, counts: { finished: 1, cancelled: 2 } })),
    ).toBe(false);
  });

  it('holds for a task cancelled before any job was enqueued', () => {
    expect(allJobsFinal(task({ cancelRequested: true, jobsEnqueued: 0 }))).toBe(true);
  });
});

describe('releaseFinishedTask', () => {
  it('releases the stored wait token once when every job is final', async () => {
    const deps = inMemoryDeps();
    deps.tasks.seed(task({ counts: { finished: 10 } }));
    await deps.tasks.storeWaitToken('t-000001', 'token-1');
    expect(await releaseFinishedTask(deps, 't-000001')).toBe(true);
    expect(await releaseFinishedTask(deps, 't-000001')).toBe(false);
    expect(deps.workflow.releases).toEqual([{ token: 'token-1', output: { taskId: 't-000001' } }]);
  });

  it('keeps the token while a job is not final', async () => {
    const deps = inMemoryDeps();
    deps.tasks.seed(task({ counts: { finished: 9, running: 1 } }));
    await deps.tasks.storeWaitToken('t-000001', 'token-1');
    expect(await releaseFinishedTask(deps, 't-000001')).toBe(false);
    expect(deps.workflow.releases).toEqual([]);
    expect(deps.tasks.waitTokenOf('t-000001')).toEqual({ token: 'token-1', released: false });
  });

  it('releases nothing when no token was stored yet', async () => {
    const deps = inMemoryDeps();
    deps.tasks.seed(task({ counts: { finished: 10 } }));
    expect(await releaseFinishedTask(deps, 't-000001')).toBe(false);
    expect(deps.workflow.releases).toEqual([]);
  });

  it('releases nothing for an unknown task', async () => {
    const deps = inMemoryDeps();
    expect(await releaseFinishedTask(deps, 't-nothere')).toBe(false);
  });
});
