import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TransientError, ValidationError } from '#core/errors.ts';
import type { Attempt, Job } from '#core/jobs/job.ts';
import type { JobTransition } from '#core/ports.ts';
import { dynamoDbDocumentClient } from '#adapters/aws-clients.ts';
import { DynamoDbJobStore } from '#adapters/dynamodb/dynamodb-job-store.ts';
import { DynamoDbTaskStore } from '#adapters/dynamodb/dynamodb-task-store.ts';
import type { TableNames } from '#adapters/dynamodb/tables.ts';
import { uniquePrefix, useStandInsEnv } from '#test/support/stand-ins-env.ts';
import { freshTables, makeJob, makeTask } from './fixtures.ts';

let restoreEnv: () => void;
let tables: TableNames;
let db: ReturnType<typeof dynamoDbDocumentClient>;
let tasks: DynamoDbTaskStore;
let jobs: DynamoDbJobStore;

/** Leases of the tests that do not look at expiry lie far in the future. */
const FAR_LEASE = Date.now() + 3_600_000;

beforeAll(async () => {
  restoreEnv = useStandInsEnv();
  tables = await freshTables(uniquePrefix('it-job-'));
  db = dynamoDbDocumentClient();
  tasks = new DynamoDbTaskStore(db, tables.tasks);
  jobs = new DynamoDbJobStore(db, tables.jobs, tables.tasks);
});

afterAll(() => {
  db?.destroy();
  restoreEnv?.();
});

/** A running task with `n` queued jobs. */
async function taskWithJobs(n: number): Promise<string> {
  const task = makeTask({ state: 'running', jobCount: n, jobsEnqueued: n });
  await tasks.create(task);
  expect(await jobs.createQueued(Array.from({ length: n }, (_, i) => makeJob(task.taskId, i)))).toBe(n);
  return task.taskId;
}

function claim(
  taskId: string,
  jobIndex: number,
  pilotId = 'p-aaaaaa',
  leaseExpiresAt = FAR_LEASE,
): JobTransition {
  return {
    taskId,
    jobIndex,
    event: 'claim',
    expected: { state: 'queued', attempt: 1 },
    set: { pilotId, host: 'wn01', leaseExpiresAt, startedAt: new Date().toISOString() },
    at: new Date().toISOString(),
  };
}

function finish(
  taskId: string,
  jobIndex: number,
  from: 'starting' | 'running',
  pilotId: string,
  attempt = 1,
) {
  return {
    taskId,
    jobIndex,
    event: 'finish',
    expected: { state: from, attempt, pilotId },
    set: { exitCode: 0, endedAt: new Date().toISOString() },
    remove: ['leaseExpiresAt'],
    at: new Date().toISOString(),
  } satisfies JobTransition;
}

describe('DynamoDbJobStore', () => {
  it('creates queued jobs once: a replayed page creates nothing', async () => {
    const task = makeTask({ state: 'running', jobCount: 30 });
    await tasks.create(task);
    const page = Array.from({ length: 20 }, (_, i) => makeJob(task.taskId, i));
    expect(await jobs.createQueued(page)).toBe(20);
    expect(await jobs.createQueued(page)).toBe(0);
    const overlapping = Array.from({ length: 15 }, (_, i) => makeJob(task.taskId, 15 + i));
    expect(await jobs.createQueued(overlapping)).toBe(10);

    const job = await jobs.get(task.taskId, 3);
    expect(job).toEqual(page[3]);
    expect(job).not.toHaveProperty('stateIndex');
    expect(job).not.toHaveProperty('leaseShard');
  });

  it('refuses to create a job in a counted state', async () => {
    const task = makeTask();
    await expect(jobs.createQueued([makeJob(task.taskId, 0, { state: 'running' })])).rejects.toThrow(
      /not queued/,
    );
  });

  it('moves a job and its task counters together', async () => {
    const taskId = await taskWithJobs(3);
    expect(await jobs.transition(claim(taskId, 1, 'p-one111'))).toBe('ok');
    let task = await tasks.get(taskId);
    expect(task?.counts).toMatchObject({ queued: 2, starting: 1, finished: 0 });

    const job = await jobs.get(taskId, 1);
    expect(job).toMatchObject({
      state: 'starting',
      pilotId: 'p-one111',
      host: 'wn01',
      leaseExpiresAt: FAR_LEASE,
    });
    expect(job?.jobId).toBe(`${taskId}.1`);

    expect(
      await jobs.transition({
        taskId,
        jobIndex: 1,
        event: 'start',
        expected: { state: 'starting', attempt: 1, pilotId: 'p-one111' },
        at: new Date().toISOString(),
      }),
    ).toBe('ok');
    expect(await jobs.transition(finish(taskId, 1, 'running', 'p-one111'))).toBe('ok');
    task = await tasks.get(taskId);
    expect(task?.counts).toEqual({
      defined: 0,
      queued: 2,
      starting: 0,
      running: 0,
      finished: 1,
      failed: 0,
      cancelled: 0,
    });
    const finished = await jobs.get(taskId, 1);
    expect(finished?.state).toBe('finished');
    expect(finished?.exitCode).toBe(0);
    expect(finished?.leaseExpiresAt).toBeUndefined();
    const raw = await db.send(new GetCommand({ TableName: tables.jobs, Key: { taskId, jobIndex: 1 } }));
    expect(raw.Item?.stateIndex).toBe('finished#00000001');
    expect(raw.Item).not.toHaveProperty('leaseShard');
  });

  it('fences transitions by attempt and pilot; a replayed completion changes nothing', async () => {
    const taskId = await taskWithJobs(2);
    expect(await jobs.transition(claim(taskId, 0, 'p-right1'))).toBe('ok');

    expect(await jobs.transition(finish(taskId, 0, 'starting', 'p-right1', 2))).toBe('conflict');
    expect(await jobs.transition(finish(taskId, 0, 'starting', 'p-wrong1'))).toBe('conflict');
    expect((await jobs.get(taskId, 0))?.state).toBe('starting');

    expect(await jobs.transition(finish(taskId, 0, 'starting', 'p-right1'))).toBe('ok');
    const before = await tasks.get(taskId);
    expect(before?.counts).toMatchObject({ starting: 0, finished: 1, queued: 1 });

    expect(await jobs.transition(finish(taskId, 0, 'starting', 'p-right1'))).toBe('conflict');
    expect((await tasks.get(taskId))?.counts).toEqual(before?.counts);
    // A second claim of the same queued attempt loses too.
    expect(await jobs.transition(claim(taskId, 0, 'p-late11'))).toBe('conflict');
    expect((await jobs.get(taskId, 0))?.pilotId).toBe('p-right1');
  });

  it('answers conflict, without writing, for a move the event does not allow', async () => {
    const taskId = await taskWithJobs(1);
    expect(
      await jobs.transition({
        taskId,
        jobIndex: 0,
        event: 'finish',
        expected: { state: 'queued', attempt: 1 },
        at: new Date().toISOString(),
      }),
    ).toBe('conflict');
    expect((await jobs.get(taskId, 0))?.state).toBe('queued');
  });

  it('keeps counters exact when 40 transitions of one task run at once', async () => {
    const taskId = await taskWithJobs(40);
    const claimed = await Promise.all(
      Array.from({ length: 40 }, (_, i) => jobs.transition(claim(taskId, i, 'p-busy11'))),
    );
    expect(claimed).toEqual(Array(40).fill('ok'));
    expect((await tasks.get(taskId))?.counts).toEqual({
      defined: 0,
      queued: 0,
      starting: 40,
      running: 0,
      finished: 0,
      failed: 0,
      cancelled: 0,
    });
    const ended = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        i % 4 === 0
          ? jobs.transition({ ...finish(taskId, i, 'starting', 'p-busy11'), event: 'fail' })
          : jobs.transition(finish(taskId, i, 'starting', 'p-busy11')),
      ),
    );
    expect(ended).toEqual(Array(40).fill('ok'));
    expect((await tasks.get(taskId))?.counts).toEqual({
      defined: 0,
      queued: 0,
      starting: 0,
      running: 0,
      finished: 30,
      failed: 10,
      cancelled: 0,
    });
  });

  it('tries a transaction again after a conflict, and gives up with a TransientError', async () => {
    const taskId = await taskWithJobs(2);
    const conflict = (): Error =>
      Object.assign(new Error('Transaction cancelled'), {
        name: 'TransactionCanceledException',
        CancellationReasons: [{ Code: 'TransactionConflict' }, { Code: 'None' }],
      });
    let failuresLeft = 2;
    let sent = 0;
    const flaky = {
      send: async (command: Parameters<typeof db.send>[0]) => {
        sent++;
        if (failuresLeft-- > 0) throw conflict();
        return db.send(command);
      },
    } as unknown as typeof db;
    const flakyJobs = new DynamoDbJobStore(flaky, tables.jobs, tables.tasks);
    expect(await flakyJobs.transition(claim(taskId, 0))).toBe('ok');
    expect(sent).toBe(3);
    expect((await tasks.get(taskId))?.counts.starting).toBe(1);

    const alwaysConflicting = { send: async () => Promise.reject(conflict()) } as unknown as typeof db;
    const stuck = new DynamoDbJobStore(alwaysConflicting, tables.jobs, tables.tasks);
    await expect(stuck.transition(claim(taskId, 1))).rejects.toBeInstanceOf(TransientError);
    expect((await jobs.get(taskId, 1))?.state).toBe('queued');
  });

  it('refuses a transition marked unlessTaskCancelled once the task is cancelled', async () => {
    const taskId = await taskWithJobs(2);
    expect(await tasks.requestCancel(taskId, new Date().toISOString())).toBe('running');
    expect(await jobs.transition({ ...claim(taskId, 0), unlessTaskCancelled: true })).toBe('task-cancelled');
    expect((await jobs.get(taskId, 0))?.state).toBe('queued');
    expect((await tasks.get(taskId))?.counts.starting).toBe(0);
    // Cancelling the job itself is not held back.
    expect(
      await jobs.transition({
        taskId,
        jobIndex: 1,
        event: 'cancel',
        expected: { state: 'queued', attempt: 1 },
        at: new Date().toISOString(),
      }),
    ).toBe('ok');
    expect((await tasks.get(taskId))?.counts).toMatchObject({ queued: 1, cancelled: 1 });
  });

  it('passes unlessTaskCancelled while the task is not cancelled', async () => {
    const taskId = await taskWithJobs(1);
    expect(await jobs.transition({ ...claim(taskId, 0), unlessTaskCancelled: true })).toBe('ok');
  });

  it('starts a new attempt on retry: the attempt is recorded and the lease dropped', async () => {
    const taskId = await taskWithJobs(1);
    expect(await jobs.transition(claim(taskId, 0, 'p-evict1'))).toBe('ok');
    const claimed = (await jobs.get(taskId, 0)) as Job;
    const attempt: Attempt = {
      attempt: 1,
      pilotId: 'p-evict1',
      siteId: 'site-a',
      host: 'wn01',
      state: 'evicted',
      startedAt: claimed.startedAt as string,
      endedAt: new Date().toISOString(),
      pilotErrorCode: 1302,
    };
    expect(
      await jobs.transition({
        taskId,
        jobIndex: 0,
        event: 'retry',
        expected: { state: 'starting', attempt: 1, pilotId: 'p-evict1' },
        set: { attempt: 2 },
        remove: ['pilotId', 'host', 'leaseExpiresAt', 'startedAt'],
        appendAttempt: attempt,
        at: new Date().toISOString(),
      }),
    ).toBe('ok');
    const retried = await jobs.get(taskId, 0);
    expect(retried).toMatchObject({ state: 'queued', attempt: 2, attempts: [attempt] });
    expect(retried?.pilotId).toBeUndefined();
    expect(retried?.leaseExpiresAt).toBeUndefined();
    expect((await tasks.get(taskId))?.counts).toMatchObject({ queued: 1, starting: 0 });
    // The old attempt is fenced off; the new one can be claimed.
    expect(await jobs.transition(claim(taskId, 0, 'p-evict1'))).toBe('conflict');
    expect(
      await jobs.transition({ ...claim(taskId, 0, 'p-next11'), expected: { state: 'queued', attempt: 2 } }),
    ).toBe('ok');
  });

  it('lists the jobs of a task in pages, with or without a state filter', async () => {
    const taskId = await taskWithJobs(25);
    for (const i of [3, 7, 11, 19, 24]) expect(await jobs.transition(claim(taskId, i))).toBe('ok');

    const seen: number[] = [];
    let nextToken: string | undefined;
    let pages = 0;
    do {
      const page = await jobs.listByTask(taskId, {}, { limit: 10, nextToken });
      seen.push(...page.items.map((j) => j.jobIndex));
      nextToken = page.nextToken;
      pages++;
    } while (nextToken !== undefined && pages < 10);
    expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => i));

    const starting: number[] = [];
    nextToken = undefined;
    pages = 0;
    do {
      const page = await jobs.listByTask(taskId, { state: 'starting' }, { limit: 2, nextToken });
      expect(page.items.every((j) => j.state === 'starting' && j.taskId === taskId)).toBe(true);
      starting.push(...page.items.map((j) => j.jobIndex));
      nextToken = page.nextToken;
      pages++;
    } while (nextToken !== undefined && pages < 10);
    expect(starting).toEqual([3, 7, 11, 19, 24]);

    const queued = await jobs.listByTask(taskId, { state: 'queued' }, { limit: 100 });
    expect(queued.items).toHaveLength(20);
    expect(queued.items[0]).not.toHaveProperty('stateIndex');
    expect((await jobs.listByTask(taskId, { state: 'failed' }, { limit: 100 })).items).toEqual([]);
  });

  it('rejects a bad page token, or one from another listing, as a ValidationError on nextToken', async () => {
    const taskId = await taskWithJobs(3);
    const other = await taskWithJobs(3);
    const page = await jobs.listByTask(taskId, {}, { limit: 1 });
    expect(page.nextToken).toBeDefined();
    const attempts = [
      jobs.listByTask(taskId, {}, { limit: 1, nextToken: '%%%' }),
      jobs.listByTask(taskId, {}, { limit: 1, nextToken: Buffer.from('{"taskId":1}').toString('base64url') }),
      jobs.listByTask(other, {}, { limit: 1, nextToken: page.nextToken }),
      jobs.listByTask(taskId, { state: 'queued' }, { limit: 1, nextToken: page.nextToken }),
    ];
    for (const attempt of attempts) {
      const error = await attempt.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).issues.map((i) => i.field)).toEqual(['nextToken']);
    }
  });

  it('renews a lease only for the pilot and attempt holding it', async () => {
    const taskId = await taskWithJobs(1);
    expect(await jobs.transition(claim(taskId, 0, 'p-holder'))).toBe('ok');
    const ref = { taskId, jobIndex: 0, attempt: 1, pilotId: 'p-holder' };
    const at = new Date().toISOString();
    expect(await jobs.renewLease(ref, FAR_LEASE + 60_000, at)).toBe(true);
    expect(await jobs.get(taskId, 0)).toMatchObject({ leaseExpiresAt: FAR_LEASE + 60_000, updatedAt: at });
    expect(await jobs.renewLease({ ...ref, pilotId: 'p-other1' }, FAR_LEASE + 120_000, at)).toBe(false);
    expect(await jobs.renewLease({ ...ref, attempt: 2 }, FAR_LEASE + 120_000, at)).toBe(false);
    expect(await jobs.renewLease({ ...ref, jobIndex: 5 }, FAR_LEASE + 120_000, at)).toBe(false);
    expect(await jobs.transition(finish(taskId, 0, 'starting', 'p-holder'))).toBe('ok');
    expect(await jobs.renewLease(ref, FAR_LEASE + 120_000, at)).toBe(false);
    expect((await jobs.get(taskId, 0))?.leaseExpiresAt).toBeUndefined();
  });

  it('lists expired leases oldest first, and only of jobs still leased', async () => {
    const now = Date.now();
    const taskId = await taskWithJobs(12);
    // Jobs 0..9 get leases that expired 10..1 s ago (job 0 the oldest); 10 and 11 are still valid.
    for (let i = 0; i < 12; i++) {
      const lease = i < 10 ? now - (10 - i) * 1000 : now + 60_000;
      expect(await jobs.transition(claim(taskId, i, 'p-lease1', lease))).toBe('ok');
    }
    // Job 2 finishes and job 3 is retried: neither holds its run lease any more (job 3, queued again,
    // holds a fresh dispatch lease instead).
    expect(await jobs.transition(finish(taskId, 2, 'starting', 'p-lease1'))).toBe('ok');
    expect(
      await jobs.transition({
        taskId,
        jobIndex: 3,
        event: 'retry',
        expected: { state: 'starting', attempt: 1 },
        set: { attempt: 2, leaseExpiresAt: now + 60_000 },
        remove: ['pilotId'],
        at: new Date().toISOString(),
      }),
    ).toBe('ok');

    const expired = await jobs.listExpiredLeases(now, 100);
    expect(expired.map((j) => j.jobIndex)).toEqual([0, 1, 4, 5, 6, 7, 8, 9]);
    expect(expired.every((j) => j.state === 'starting' && j.taskId === taskId)).toBe(true);
    expect(expired[0]).not.toHaveProperty('leaseShard');

    expect((await jobs.listExpiredLeases(now, 3)).map((j) => j.jobIndex)).toEqual([0, 1, 4]);
    expect((await jobs.listExpiredLeases(now - 5500, 100)).map((j) => j.jobIndex)).toEqual([0, 1, 4]);
    expect(await jobs.listExpiredLeases(now, 0)).toEqual([]);

    // A queued job whose dispatch lease ran out is listed too (its message went unclaimed), until renewed.
    expect(await jobs.listExpiredLeases(now + 61_000, 100)).toContainEqual(
      expect.objectContaining({ jobIndex: 3, state: 'queued' }),
    );
    expect(
      await jobs.renewDispatch({ taskId, jobIndex: 3, attempt: 2 }, now + 120_000, new Date().toISOString()),
    ).toBe(true);
    expect(
      await jobs.renewDispatch({ taskId, jobIndex: 3, attempt: 1 }, now + 120_000, new Date().toISOString()),
    ).toBe(false);
    expect((await jobs.listExpiredLeases(now + 61_000, 100)).map((j) => j.jobIndex)).not.toContain(3);

    // A renewed lease is no longer listed.
    expect(
      await jobs.renewLease({ taskId, jobIndex: 0, attempt: 1, pilotId: 'p-lease1' }, now + 60_000, 'x'),
    ).toBe(true);
    expect((await jobs.listExpiredLeases(now, 100)).map((j) => j.jobIndex)).toEqual([1, 4, 5, 6, 7, 8, 9]);
  });
});
