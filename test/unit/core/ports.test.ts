/**
 * The promises of core/ports.ts, checked against the in-memory ports the use-case tests run on,
 * so those tests stand on the same fencing and counting rules as the DynamoDB adapters.
 */
import { describe, expect, it } from 'vitest';
import { PilotIdSchema, TaskIdSchema } from '#core/api/contract.ts';
import { ConflictError, NotFoundError } from '#core/errors.ts';
import { type Job, jobIdOf } from '#core/jobs/job.ts';
import type { JobTransition } from '#core/ports.ts';
import { emptyJobCounts, type Task } from '#core/tasks/task.ts';
import { parseTaskSpec } from '#core/tasks/task-spec.ts';
import { DEFAULT_START, inMemoryDeps } from '#test/support/in-memory-ports.ts';

const TASK = 't-000001';

function task(fields: Partial<Task> = {}): Task {
  return {
    taskId: TASK,
    owner: 'alice',
    name: 'gen',
    spec: parseTaskSpec({ name: 'gen', payload: { command: 'x' }, events: 40, split: { eventsPerJob: 10 } }),
    state: 'running',
    jobCount: 4,
    jobsEnqueued: 0,
    counts: emptyJobCounts(),
    siteIds: ['cern'],
    cancelRequested: false,
    createdAt: DEFAULT_START,
    updatedAt: DEFAULT_START,
    history: [],
    ...fields,
  };
}

function job(jobIndex: number, fields: Partial<Job> = {}): Job {
  return {
    taskId: TASK,
    jobId: jobIdOf(TASK, jobIndex),
    jobIndex,
    owner: 'alice',
    state: 'queued',
    attempt: 1,
    failures: 0,
    siteId: 'cern',
    createdAt: DEFAULT_START,
    updatedAt: DEFAULT_START,
    attempts: [],
    ...fields,
  };
}

const at = '2026-01-01T00:00:10.000Z';
const claim: JobTransition = {
  taskId: TASK,
  jobIndex: 0,
  event: 'claim',
  expected: { state: 'queued', attempt: 1 },
  set: { pilotId: 'p-000001', leaseExpiresAt: 1000 },
  at,
};

async function withJobs(n: number) {
  const deps = inMemoryDeps();
  await deps.tasks.create(task());
  await deps.jobs.createQueued(Array.from({ length: n }, (_, i) => job(i)));
  await deps.tasks.recordEnqueued(TASK, n, at);
  return deps;
}

describe('JobStore (in memory)', () => {
  it('creates queued jobs once and says how many were new', async () => {
    const deps = await withJobs(2);
    expect(await deps.jobs.createQueued([job(1), job(2)])).toBe(1);
    expect(deps.jobs.all().map((j) => j.jobIndex)).toEqual([0, 1, 2]);
  });

  it('refuses to create a job that is not queued', async () => {
    const deps = inMemoryDeps();
    await expect(deps.jobs.createQueued([job(0, { state: 'running' })])).rejects.toThrow(/not queued/);
  });

  it('applies a transition fenced on state and attempt and moves the counters', async () => {
    const deps = await withJobs(2);
    expect(await deps.jobs.transition(claim)).toBe('ok');
    expect(await deps.jobs.get(TASK, 0)).toMatchObject({
      state: 'starting',
      pilotId: 'p-000001',
      updatedAt: at,
    });
    expect((await deps.tasks.get(TASK))?.counts).toEqual({
      ...emptyJobCounts(),
      defined: 2,
      queued: 1,
      starting: 1,
    });
  });

  it('answers conflict when the job is in another state or at another attempt', async () => {
    const deps = await withJobs(1);
    deps.jobs.patch(TASK, 0, { state: 'starting', attempt: 2, pilotId: 'p-000009' });
    const start = { ...claim, event: 'start' as const, set: {} };
    expect(await deps.jobs.transition(claim)).toBe('conflict');
    expect(await deps.jobs.transition({ ...start, expected: { state: 'starting', attempt: 1 } })).toBe(
      'conflict',
    );
    expect((await deps.jobs.get(TASK, 0))?.state).toBe('starting');
    expect(await deps.jobs.transition({ ...start, expected: { state: 'starting', attempt: 2 } })).toBe('ok');
  });

  it('answers conflict when the job is held by another pilot', async () => {
    const deps = await withJobs(1);
    await deps.jobs.transition(claim);
    const start = { ...claim, event: 'start' as const, expected: { state: 'starting' as const, attempt: 1 } };
    expect(
      await deps.jobs.transition({ ...start, expected: { ...start.expected, pilotId: 'p-000002' } }),
    ).toBe('conflict');
    expect(
      await deps.jobs.transition({ ...start, expected: { ...start.expected, pilotId: 'p-000001' } }),
    ).toBe('ok');
  });

  it('answers conflict when the event is not allowed from the expected state', async () => {
    const deps = await withJobs(1);
    expect(await deps.jobs.transition({ ...claim, event: 'finish' })).toBe('conflict');
    expect((await deps.jobs.get(TASK, 0))?.state).toBe('queued');
  });

  it('answers conflict for a job that does not exist', async () => {
    const deps = await withJobs(1);
    expect(await deps.jobs.transition({ ...claim, jobIndex: 7 })).toBe('conflict');
  });

  it('answers task-cancelled when asked to and the task was cancelled', async () => {
    const deps = await withJobs(1);
    await deps.tasks.requestCancel(TASK, at);
    expect(await deps.jobs.transition({ ...claim, unlessTaskCancelled: true })).toBe('task-cancelled');
    expect((await deps.jobs.get(TASK, 0))?.state).toBe('queued');
    expect(await deps.jobs.transition(claim)).toBe('ok');
  });

  it('removes fields and appends the attempt record', async () => {
    const deps = await withJobs(1);
    await deps.jobs.transition(claim);
    const record = {
      attempt: 1,
      pilotId: 'p-000001',
      siteId: 'cern',
      state: 'failed' as const,
      startedAt: at,
      endedAt: at,
      pilotErrorCode: 1001 as const,
    };
    await deps.jobs.transition({
      taskId: TASK,
      jobIndex: 0,
      event: 'retry',
      expected: { state: 'starting', attempt: 1, pilotId: 'p-000001' },
      set: { attempt: 2 },
      remove: ['pilotId', 'leaseExpiresAt'],
      appendAttempt: record,
      at,
    });
    const stored = await deps.jobs.get(TASK, 0);
    expect(stored).toMatchObject({ state: 'queued', attempt: 2, attempts: [record] });
    expect(stored?.pilotId).toBeUndefined();
    expect(stored?.leaseExpiresAt).toBeUndefined();
    expect((await deps.tasks.get(TASK))?.counts).toMatchObject({ queued: 1, starting: 0 });
  });

  it('renews a lease only for the pilot and attempt holding it', async () => {
    const deps = await withJobs(1);
    const ref = { taskId: TASK, jobIndex: 0, attempt: 1, pilotId: 'p-000001' };
    expect(await deps.jobs.renewLease(ref, 5000, at)).toBe(false);
    await deps.jobs.transition(claim);
    expect(await deps.jobs.renewLease({ ...ref, pilotId: 'p-000002' }, 5000, at)).toBe(false);
    expect(await deps.jobs.renewLease({ ...ref, attempt: 2 }, 5000, at)).toBe(false);
    expect(await deps.jobs.renewLease(ref, 5000, at)).toBe(true);
    expect((await deps.jobs.get(TASK, 0))?.leaseExpiresAt).toBe(5000);
  });

  it('lists expired leases of leased jobs, oldest first, up to the limit', async () => {
    const deps = await withJobs(4);
    for (const [jobIndex, lease] of [
      [0, 300],
      [1, 100],
      [2, 200],
      [3, 900],
    ] as const) {
      await deps.jobs.transition({ ...claim, jobIndex, set: { pilotId: 'p-000001', leaseExpiresAt: lease } });
    }
    expect((await deps.jobs.listExpiredLeases(500, 10)).map((j) => j.jobIndex)).toEqual([1, 2, 0]);
    expect((await deps.jobs.listExpiredLeases(500, 2)).map((j) => j.jobIndex)).toEqual([1, 2]);
    expect(await deps.jobs.listExpiredLeases(100, 10)).toEqual([]);
  });

  it('lists the jobs of a task by state, page by page', async () => {
    const deps = await withJobs(5);
    await deps.jobs.transition({ ...claim, jobIndex: 2 });
    const first = await deps.jobs.listByTask(TASK, { state: 'queued' }, { limit: 3 });
    expect(first.items.map((j) => j.jobIndex)).toEqual([0, 1, 3]);
    const second = await deps.jobs.listByTask(
      TASK,
      { state: 'queued' },
      { limit: 3, nextToken: first.nextToken },
    );
    expect(second).toEqual({ items: [expect.objectContaining({ jobIndex: 4 })] });
    expect((await deps.jobs.listByTask(TASK, {}, { limit: 10 })).items).toHaveLength(5);
  });

  it('returns copies, so changing a result changes nothing stored', async () => {
    const deps = await withJobs(1);
    const copy = await deps.jobs.get(TASK, 0);
    if (copy === undefined) expect.fail('job not stored');
    copy.state = 'finished';
    expect((await deps.jobs.get(TASK, 0))?.state).toBe('queued');
  });
});

describe('TaskStore (in memory)', () => {
  it('refuses to create a task twice', async () => {
    const deps = inMemoryDeps();
    await deps.tasks.create(task());
    await expect(deps.tasks.create(task())).rejects.toBeInstanceOf(ConflictError);
  });

  it('derives defined and queued from jobCount and jobsEnqueued', async () => {
    const deps = inMemoryDeps();
    await deps.tasks.create(task({ counts: { ...emptyJobCounts(), finished: 3 } }));
    expect((await deps.tasks.get(TASK))?.counts).toEqual({ ...emptyJobCounts(), defined: 4 });
    await deps.tasks.recordEnqueued(TASK, 3, at);
    expect((await deps.tasks.get(TASK))?.counts).toEqual({ ...emptyJobCounts(), defined: 1, queued: 3 });
  });

  it('moves a task only from a source state of the event', async () => {
    const deps = inMemoryDeps();
    await deps.tasks.create(task({ state: 'submitted' }));
    expect(await deps.tasks.transition(TASK, 'run', { at })).toBe(false);
    expect(await deps.tasks.transition(TASK, 'split', { at, siteIds: ['bnl'], jobCount: 4 })).toBe(true);
    expect(await deps.tasks.transition(TASK, 'fail', { at, reason: 'boom' })).toBe(true);
    expect(await deps.tasks.transition(TASK, 'cancel', { at })).toBe(false);
    expect(await deps.tasks.get(TASK)).toMatchObject({
      state: 'failed',
      reason: 'boom',
      siteIds: ['bnl'],
      endedAt: at,
      history: [
        { state: 'splitting', at },
        { state: 'failed', at, reason: 'boom' },
      ],
    });
    expect(await deps.tasks.transition('t-nothere', 'fail', { at })).toBe(false);
  });

  it('only moves enqueue progress forward', async () => {
    const deps = inMemoryDeps();
    await deps.tasks.create(task());
    await deps.tasks.recordEnqueued(TASK, 3, at);
    await deps.tasks.recordEnqueued(TASK, 2, at);
    expect((await deps.tasks.get(TASK))?.jobsEnqueued).toBe(3);
  });

  it('sets cancelRequested only on a task that is not final', async () => {
    const deps = inMemoryDeps();
    await deps.tasks.create(task());
    expect(await deps.tasks.requestCancel(TASK, at)).toBe('running');
    expect((await deps.tasks.get(TASK))?.cancelRequested).toBe(true);
    deps.tasks.seed(task({ state: 'done' }));
    expect(await deps.tasks.requestCancel(TASK, at)).toBe('done');
    expect((await deps.tasks.get(TASK))?.cancelRequested).toBe(false);
    expect(await deps.tasks.requestCancel('t-nothere', at)).toBeUndefined();
  });

  it('hands out a stored wait token once', async () => {
    const deps = inMemoryDeps();
    await deps.tasks.create(task());
    expect(await deps.tasks.takeWaitToken(TASK)).toBeUndefined();
    await deps.tasks.storeWaitToken(TASK, 'a');
    expect(await deps.tasks.takeWaitToken(TASK)).toBe('a');
    expect(await deps.tasks.takeWaitToken(TASK)).toBeUndefined();
    await deps.tasks.storeWaitToken(TASK, 'b');
    expect(await deps.tasks.takeWaitToken(TASK)).toBe('b');
    await expect(deps.tasks.storeWaitToken('t-nothere', 'c')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('lists the tasks of one owner, newest first, page by page', async () => {
    const deps = inMemoryDeps();
    await deps.tasks.create(task({ taskId: 't-000001', createdAt: '2026-01-01T00:00:01.000Z' }));
    await deps.tasks.create(task({ taskId: 't-000002', createdAt: '2026-01-01T00:00:02.000Z' }));
    await deps.tasks.create(
      task({ taskId: 't-000003', createdAt: '2026-01-01T00:00:03.000Z', owner: 'bob' }),
    );
    await deps.tasks.create(task({ taskId: 't-000004', createdAt: '2026-01-01T00:00:04.000Z' }));
    const first = await deps.tasks.listByOwner('alice', { limit: 2 });
    expect(first.items.map((t) => t.taskId)).toEqual(['t-000004', 't-000002']);
    const second = await deps.tasks.listByOwner('alice', { limit: 2, nextToken: first.nextToken });
    expect(second.items.map((t) => t.taskId)).toEqual(['t-000001']);
    expect(second.nextToken).toBeUndefined();
  });
});

describe('Ids and Clock (in memory)', () => {
  it('gives ids that the API accepts', () => {
    const deps = inMemoryDeps();
    const ids = [deps.ids.taskId(), deps.ids.taskId(), deps.ids.pilotId()];
    expect(ids).toEqual(['t-000001', 't-000002', 'p-000001']);
    expect(TaskIdSchema.safeParse(ids[0]).success).toBe(true);
    expect(PilotIdSchema.safeParse(ids[2]).success).toBe(true);
  });

  it('moves the clock only when told', () => {
    const deps = inMemoryDeps();
    expect(deps.clock.now().toISOString()).toBe(DEFAULT_START);
    deps.clock.advance(1500);
    expect(deps.clock.now().toISOString()).toBe('2026-01-01T00:00:01.500Z');
    deps.clock.set('2027-01-01T00:00:00.000Z');
    expect(deps.clock.now().getUTCFullYear()).toBe(2027);
  });
});
