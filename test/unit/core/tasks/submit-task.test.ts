import { describe, expect, it } from 'vitest';
import { TransientError, ValidationError } from '#core/errors.ts';
import { submitTask } from '#core/tasks/submit-task.ts';
import { emptyJobCounts } from '#core/tasks/task.ts';
import { DEFAULT_START, inMemoryDeps } from '#test/support/in-memory-ports.ts';
import { alice, generationSpec, taskOf } from '../scenario.ts';

describe('submitTask', () => {
  it('stores the task and starts its workflow when the spec is valid', async () => {
    const deps = inMemoryDeps();
    const response = await submitTask(deps, alice, generationSpec(7));
    expect(response).toEqual({ taskId: 't-000001', state: 'submitted', jobCount: 7 });
    const task = await taskOf(deps, response.taskId);
    expect(task).toMatchObject({
      taskId: 't-000001',
      owner: 'alice',
      name: 'gen',
      state: 'submitted',
      jobCount: 7,
      jobsEnqueued: 0,
      siteIds: [],
      cancelRequested: false,
      createdAt: DEFAULT_START,
      history: [{ state: 'submitted', at: DEFAULT_START }],
    });
    expect(task.counts).toEqual({ ...emptyJobCounts(), defined: 7 });
    expect(task.spec.maxAttempts).toBe(3);
    expect(deps.workflow.started).toEqual(['t-000001']);
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
    await expect(submitTask(deps, alice, generationSpec(2))).rejects.toBeInstanceOf(TransientError);
    const task = await taskOf(deps, 't-000001');
    expect(task.state).toBe('failed');
    expect(task.reason).toContain('ExecutionLimitExceeded');
    expect(task.endedAt).toBe(DEFAULT_START);
    expect(task.history.map((h) => h.state)).toEqual(['submitted', 'failed']);
  });

  it('throws ValidationError naming every bad field and stores nothing when the spec is bad', async () => {
    const deps = inMemoryDeps();
    const { name: _missing, ...spec } = generationSpec(2);
    const error = await submitTask(deps, alice, { ...spec, resources: { cores: 0 } }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues.map((i) => i.field).sort()).toEqual(['name', 'resources.cores']);
    expect(deps.tasks.size()).toBe(0);
    expect(deps.workflow.started).toEqual([]);
  });
});
