import { describe, expect, it } from 'vitest';
import { ConflictError, TransientError, ValidationError } from '#core/errors.ts';
import { emptyRangeCounters } from '#core/event-ranges/range-counts.ts';
import { emptyJobCounts } from '#core/jobs/job-counts.ts';
import {
  canonicalJson,
  IDEMPOTENCY_KEY_TTL_SEC,
  submitSystemTask,
  submitTask,
} from '#core/tasks/submit-task.ts';
import { DEFAULT_START, inMemoryDeps } from '#test/support/in-memory-ports.ts';
import { alice, bob, generationSpec, taskOf } from '../scenario.ts';

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

describe('submitTask with an idempotency key', () => {
  const KEY = 'k-0123456789';

  it('makes one task for the same owner, key and spec, answering the repeat as the first', async () => {
    const deps = inMemoryDeps();
    const first = await submitTask(deps, alice, generationSpec(3), KEY);
    const again = await submitTask(deps, alice, generationSpec(3), KEY);
    expect(again).toEqual(first);
    expect((await deps.tasks.listByOwner('alice', { limit: 10 })).items).toHaveLength(1);
  });

  it('starts the workflow on a repeat while the task is still submitted (the first submit stopped before it did)', async () => {
    const deps = inMemoryDeps();
    const { taskId } = await submitTask(deps, alice, generationSpec(3), KEY);
    deps.workflow.started.length = 0; // as if the first submit had ended before starting it
    expect(await submitTask(deps, alice, generationSpec(3), KEY)).toMatchObject({
      taskId,
      state: 'submitted',
    });
    expect(deps.workflow.started).toEqual([taskId]);

    await deps.tasks.transition(taskId, 'split', { at: DEFAULT_START });
    deps.workflow.startError = new Error('must not be started again');
    expect(await submitTask(deps, alice, generationSpec(3), KEY)).toMatchObject({
      taskId,
      state: 'splitting',
    });
  });

  it('refuses the key with another spec as a conflict naming the header, making no task', async () => {
    const deps = inMemoryDeps();
    await submitTask(deps, alice, generationSpec(3), KEY);
    const error = await submitTask(deps, alice, generationSpec(4), KEY).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as Error).message).toContain(`Idempotency-Key ${KEY}`);
    expect((await deps.tasks.listByOwner('alice', { limit: 10 })).items).toHaveLength(1);
  });

  it('keeps keys per owner and per key; without a key every submit is a new task', async () => {
    const deps = inMemoryDeps();
    const cases: Array<[typeof alice, string | undefined]> = [
      [alice, KEY],
      [bob, KEY],
      [alice, 'k-other-key'],
      [alice, undefined],
      [alice, undefined],
    ];
    const ids = [];
    for (const [who, key] of cases) ids.push((await submitTask(deps, who, generationSpec(1), key)).taskId);
    expect(new Set(ids).size).toBe(cases.length);
  });

  it('makes a new task with the key once its hold expired', async () => {
    const deps = inMemoryDeps();
    const first = await submitTask(deps, alice, generationSpec(1), KEY);
    deps.clock.advance(IDEMPOTENCY_KEY_TTL_SEC * 1000 - 1000);
    expect((await submitTask(deps, alice, generationSpec(1), KEY)).taskId).toBe(first.taskId);
    deps.clock.advance(1000);
    expect((await submitTask(deps, alice, generationSpec(1), KEY)).taskId).not.toBe(first.taskId);
  });

  it('frees the key when the workflow cannot start, so the retry makes a new task that runs', async () => {
    const deps = inMemoryDeps();
    deps.workflow.startError = new Error('ExecutionLimitExceeded');
    await expect(submitTask(deps, alice, generationSpec(2), KEY)).rejects.toBeInstanceOf(TransientError);
    deps.workflow.startError = undefined;
    const retry = await submitTask(deps, alice, generationSpec(2), KEY);
    expect(retry).toEqual({ taskId: 't-000002', state: 'submitted', jobCount: 2 });
    expect((await taskOf(deps, 't-000001')).state).toBe('failed');
  });
});

describe('canonicalJson', () => {
  it.each([
    [{ a: 1, b: { c: [1, { d: 2, e: 3 }] } }, { b: { c: [1, { e: 3, d: 2 }] }, a: 1 }, true],
    [{ a: [1, 2] }, { a: [2, 1] }, false],
    [{ a: 1 }, { a: 1, b: 2 }, false],
    [{ a: '1' }, { a: 1 }, false],
  ])('compares %j and %j as equal: %s', (a, b, equal) => {
    expect(canonicalJson(a) === canonicalJson(b)).toBe(equal);
  });
});
