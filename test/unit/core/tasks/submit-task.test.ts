import { describe, expect, it } from 'vitest';
import { TransientError, ValidationError } from '#core/errors.ts';
import { emptyRangeCounters } from '#core/event-ranges/range-counts.ts';
import { emptyJobCounts } from '#core/jobs/job-counts.ts';
import { submitSystemTask, submitTask } from '#core/tasks/submit-task.ts';
import { DEFAULT_START, inMemoryDeps } from '#test/support/in-memory-ports.ts';
import { alice, generationSpec, taskOf } from '../scenario.ts';

describe('submitTask', () => {
  it('stores the task, submitted with all its jobs defined, and starts its workflow', async () => {
    const deps = inMemoryDeps();
    const spec = generationSpec(7);
    expect(await submitTask(deps, alice, spec)).toEqual({
      taskId: 't-000001',
      state: 'submitted',
      jobCount: 7,
    });
    expect(await taskOf(deps, 't-000001')).toEqual({
      taskId: 't-000001',
      owner: 'alice',
      name: 'gen',
      spec,
      state: 'submitted',
      jobCount: 7,
      jobsEnqueued: 0,
      counts: { ...emptyJobCounts(), defined: 7 },
      rangeCounters: emptyRangeCounters(),
      siteIds: [],
      cancelRequested: false,
      cancelSwept: false,
      createdAt: DEFAULT_START,
      updatedAt: DEFAULT_START,
      history: [{ state: 'submitted', at: DEFAULT_START }],
    });
    expect(deps.workflow.started).toEqual(['t-000001']);
  });

  it('refuses a site test task from a user, naming siteTest, and stores nothing', async () => {
    const deps = inMemoryDeps();
    const error = await submitTask(deps, alice, generationSpec(1, { siteTest: true })).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues.map((i) => i.field)).toEqual(['siteTest']);
    expect(deps.workflow.started).toEqual([]);
    expect(await deps.tasks.get('t-000001')).toBeUndefined();
  });

  it('stores a site test task the system submits, owned by it', async () => {
    const deps = inMemoryDeps();
    const { taskId } = await submitSystemTask(
      deps,
      'system:site-health',
      generationSpec(1, { siteTest: true }),
    );
    expect(await taskOf(deps, taskId)).toMatchObject({
      owner: 'system:site-health',
      spec: { siteTest: true },
    });
    expect(deps.workflow.started).toEqual([taskId]);
  });

  it('writes no job: jobs follow from the spec', async () => {
    const deps = inMemoryDeps();
    await submitTask(deps, alice, generationSpec(1000));
    expect(await deps.jobs.list('t-000001', 0, 10)).toEqual({ records: [], more: false });
    expect(deps.queue.sent).toEqual([]);
  });

  it('gives each task a new id', async () => {
    const deps = inMemoryDeps();
    const first = await submitTask(deps, alice, generationSpec(1));
    const second = await submitTask(deps, alice, generationSpec(1));
    expect([first.taskId, second.taskId]).toEqual(['t-000001', 't-000002']);
    expect(deps.workflow.started).toEqual(['t-000001', 't-000002']);
  });

  it('marks the task failed and throws TransientError when the workflow cannot start', async () => {
    const deps = inMemoryDeps();
    deps.workflow.startError = new Error('ExecutionLimitExceeded');
    await expect(submitTask(deps, alice, generationSpec(2))).rejects.toThrow(
      new TransientError('the task workflow could not be started; submit again'),
    );
    const task = await taskOf(deps, 't-000001');
    expect(task).toMatchObject({
      state: 'failed',
      reason: 'workflow could not be started: ExecutionLimitExceeded',
      endedAt: DEFAULT_START,
    });
    expect(task.history.map((h) => h.state)).toEqual(['submitted', 'failed']);
  });
});
