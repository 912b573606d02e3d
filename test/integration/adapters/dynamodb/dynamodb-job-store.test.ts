import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dynamoDbDocumentClient } from '#adapters/aws-clients.ts';
import { DynamoDbJobStore } from '#adapters/dynamodb/dynamodb-job-store.ts';
import type { TableNames } from '#adapters/dynamodb/tables.ts';
import type { Attempt } from '#core/jobs/job.ts';
import { uniquePrefix, useStandInsEnv } from '#test/support/stand-ins-env.ts';
import { freshTables, newTaskId, runningRecord } from '../fixtures.ts';

let restoreEnv: () => void;
let tables: TableNames;
let db: DynamoDBDocumentClient;
let jobs: DynamoDbJobStore;

beforeAll(async () => {
  restoreEnv = useStandInsEnv();
  tables = await freshTables(uniquePrefix('it-job-'));
  db = dynamoDbDocumentClient();
  jobs = new DynamoDbJobStore(db, { jobs: tables.jobs, attempts: tables.attempts });
});

afterAll(() => {
  db?.destroy();
  restoreEnv?.();
});

function attempt(n: number, overrides: Partial<Attempt> = {}): Attempt {
  return {
    attempt: n,
    pilotId: `p-pilot${n}`,
    siteId: 'site-a',
    host: 'wn01',
    state: 'failed',
    startedAt: '2026-11-25T10:00:00.000Z',
    endedAt: '2026-11-25T10:05:00.000Z',
    pilotErrorCode: 1001,
    exitCode: 3,
    errorMessage: 'exit 3',
    usage: { wallTimeSec: 300, cpuTimeSec: 290, maxRssKB: 1024 },
    ...overrides,
  };
}

describe('DynamoDbJobStore records', () => {
  it('has no record of a job never claimed', async () => {
    expect(await jobs.get(newTaskId(), 0)).toBeUndefined();
  });

  it('creates a record when none is expected, and refuses a second creation', async () => {
    const taskId = newTaskId();
    expect(await jobs.update({ taskId, jobIndex: 3 }, { set: runningRecord() }, ['absent'])).toBe('ok');
    expect(await jobs.get(taskId, 3)).toEqual({ taskId, jobIndex: 3, ...runningRecord() });

    const again = await jobs.update(
      { taskId, jobIndex: 3 },
      { set: runningRecord({ pilotId: 'p-bbbbbb' }) },
      ['absent'],
    );
    expect(again).toBe('conflict');
    expect((await jobs.get(taskId, 3))?.pilotId).toBe('p-aaaaaa');
  });

  it('writes only when the record is in the expected state at the expected attempt', async () => {
    const taskId = newTaskId();
    const key = { taskId, jobIndex: 0 };
    await jobs.update(key, { set: runningRecord() }, ['absent']);
    const finish = {
      set: { state: 'finished' as const, exitCode: 0, updatedAt: '2026-11-25T10:05:00.000Z' },
    };

    expect(await jobs.update(key, finish, [{ state: 'queued', attempt: 1 }])).toBe('conflict');
    expect(await jobs.update(key, finish, [{ state: 'running', attempt: 2 }])).toBe('conflict');
    expect(await jobs.update(key, finish, ['absent'])).toBe('conflict');
    expect(await jobs.get(taskId, 0)).toEqual({ ...key, ...runningRecord() });

    expect(await jobs.update(key, finish, [{ state: 'running', attempt: 1 }])).toBe('ok');
    expect(await jobs.get(taskId, 0)).toMatchObject({ state: 'finished', exitCode: 0, pilotId: 'p-aaaaaa' });
  });

  it('fences on the pilot and the site when the expectation names them', async () => {
    const taskId = newTaskId();
    const key = { taskId, jobIndex: 0 };
    await jobs.update(key, { set: runningRecord() }, ['absent']);
    const end = { set: { state: 'failed' as const, updatedAt: '2026-11-25T10:06:00.000Z' } };
    const running = { state: 'running' as const, attempt: 1 };

    expect(await jobs.update(key, end, [{ ...running, pilotId: 'p-zombie' }])).toBe('conflict');
    expect(await jobs.update(key, end, [{ ...running, pilotId: 'p-aaaaaa', siteId: 'site-b' }])).toBe(
      'conflict',
    );
    expect((await jobs.get(taskId, 0))?.state).toBe('running');

    expect(await jobs.update(key, end, [{ ...running, pilotId: 'p-aaaaaa', siteId: 'site-a' }])).toBe('ok');
    expect((await jobs.get(taskId, 0))?.state).toBe('failed');
  });

  it('writes when any one of several expectations holds (a first claim: absent, or queued at attempt 1)', async () => {
    const either = ['absent', { state: 'queued', attempt: 1 }] as const;
    const fresh = { taskId: newTaskId(), jobIndex: 0 };
    expect(await jobs.update(fresh, { set: runningRecord() }, [...either])).toBe('ok');

    const queued = { taskId: newTaskId(), jobIndex: 0 };
    await jobs.update(queued, { set: runningRecord({ state: 'queued', pilotId: 'p-other1' }) }, ['absent']);
    expect(await jobs.update(queued, { set: runningRecord() }, [...either])).toBe('ok');
    expect((await jobs.get(queued.taskId, 0))?.pilotId).toBe('p-aaaaaa');

    // Running already: neither holds.
    expect(await jobs.update(queued, { set: runningRecord({ pilotId: 'p-late01' }) }, [...either])).toBe(
      'conflict',
    );
    expect((await jobs.get(queued.taskId, 0))?.pilotId).toBe('p-aaaaaa');
  });

  it('sets and removes fields in one write, keeping a field both set and removed and one set to undefined', async () => {
    const taskId = newTaskId();
    const key = { taskId, jobIndex: 1 };
    await jobs.update(key, { set: { ...runningRecord(), exitCode: 1, errorMessage: 'boom' } }, ['absent']);
    const ended = attempt(1);

    const result = await jobs.update(
      key,
      {
        set: {
          state: 'queued',
          attempt: 2,
          failures: 1,
          queuedAt: '2026-11-25T10:06:00.000Z',
          updatedAt: '2026-11-25T10:06:00.000Z',
          ended,
          resources: { memoryMB: 3000 },
          errorMessage: undefined,
        },
        remove: ['pilotId', 'host', 'startedAt', 'exitCode', 'queuedAt'],
      },
      [{ state: 'running', attempt: 1, pilotId: 'p-aaaaaa' }],
    );

    expect(result).toBe('ok');
    expect(await jobs.get(taskId, 1)).toEqual({
      taskId,
      jobIndex: 1,
      state: 'queued',
      attempt: 2,
      failures: 1,
      siteId: 'site-a',
      queuedAt: '2026-11-25T10:06:00.000Z',
      updatedAt: '2026-11-25T10:06:00.000Z',
      ended,
      resources: { memoryMB: 3000 },
      errorMessage: 'boom',
    });
  });

  it('gives a job to exactly one of ten claims written at once', async () => {
    const taskId = newTaskId();
    const key = { taskId, jobIndex: 0 };
    const pilots = Array.from({ length: 10 }, (_, i) => `p-racer${i}`);
    const results = await Promise.all(
      pilots.map((pilotId) => jobs.update(key, { set: runningRecord({ pilotId }) }, ['absent'])),
    );
    expect(results.filter((r) => r === 'ok')).toHaveLength(1);
    const winner = pilots[results.indexOf('ok')];
    expect((await jobs.get(taskId, 0))?.pilotId).toBe(winner);
  });
});

describe('DynamoDbJobStore listing', () => {
  /** A task whose jobs `indexes` have records (claimed by `p-aaaaaa`); its id. */
  async function taskWithRecords(indexes: number[]): Promise<string> {
    const taskId = newTaskId();
    for (const jobIndex of indexes)
      await jobs.update({ taskId, jobIndex }, { set: runningRecord() }, ['absent']);
    return taskId;
  }

  it('lists the records of a task in index order from an index on, the gaps left out', async () => {
    const taskId = await taskWithRecords([12, 2, 7, 30, 0]);
    await taskWithRecords([1, 3]);

    const all = await jobs.list(taskId, 0, 100);
    expect(all.records.map((r) => r.jobIndex)).toEqual([0, 2, 7, 12, 30]);
    expect(all.records.every((r) => r.taskId === taskId)).toBe(true);
    expect(all.more).toBe(false);

    const from = await jobs.list(taskId, 3, 100);
    expect(from.records.map((r) => r.jobIndex)).toEqual([7, 12, 30]);
    expect(from.more).toBe(false);
  });

  it('cuts a listing at the limit and says there is more', async () => {
    const taskId = await taskWithRecords([0, 1, 2, 3, 4]);
    const first = await jobs.list(taskId, 0, 2);
    expect(first.records.map((r) => r.jobIndex)).toEqual([0, 1]);
    expect(first.more).toBe(true);
    const next = await jobs.list(taskId, 2, 2);
    expect(next.records.map((r) => r.jobIndex)).toEqual([2, 3]);
    const last = await jobs.list(taskId, 4, 2);
    expect(last).toEqual({ records: [expect.objectContaining({ jobIndex: 4 })], more: false });
  });

  it('lists nothing for a task without records', async () => {
    expect(await jobs.list(newTaskId(), 0, 10)).toEqual({ records: [], more: false });
  });
});

describe('DynamoDbJobStore attempts', () => {
  it('archives ended attempts and reads a job’s back oldest first', async () => {
    const taskId = newTaskId();
    await jobs.archiveAttempts([
      { taskId, jobIndex: 1, attempt: attempt(2, { state: 'lost', pilotErrorCode: 1304 }) },
      { taskId, jobIndex: 1, attempt: attempt(1) },
      { taskId, jobIndex: 10, attempt: attempt(1, { state: 'evicted', pilotErrorCode: 1302 }) },
    ]);
    expect(await jobs.attempts(taskId, 1)).toEqual([
      attempt(1),
      attempt(2, { state: 'lost', pilotErrorCode: 1304 }),
    ]);
    expect(await jobs.attempts(taskId, 10)).toEqual([attempt(1, { state: 'evicted', pilotErrorCode: 1302 })]);
    expect(await jobs.attempts(taskId, 0)).toEqual([]);
  });

  it('writes an attempt archived again with the same content once (a replayed batch)', async () => {
    const taskId = newTaskId();
    const batch = [{ taskId, jobIndex: 0, attempt: attempt(1) }];
    await jobs.archiveAttempts(batch);
    await jobs.archiveAttempts(batch);
    expect(await jobs.attempts(taskId, 0)).toEqual([attempt(1)]);
    const raw = await db.send(
      new QueryCommand({
        TableName: tables.attempts,
        KeyConditionExpression: 'jobId = :j',
        ExpressionAttributeValues: { ':j': `${taskId}.0` },
      }),
    );
    expect(raw.Items).toEqual([{ jobId: `${taskId}.0`, ...attempt(1) }]);
  });

  it('archives more attempts than one batch write takes (25)', async () => {
    const taskId = newTaskId();
    const many = Array.from({ length: 60 }, (_, i) => ({
      taskId,
      jobIndex: i % 3,
      attempt: attempt(Math.floor(i / 3) + 1),
    }));
    await jobs.archiveAttempts(many);
    for (const jobIndex of [0, 1, 2]) {
      const archived = await jobs.attempts(taskId, jobIndex);
      expect(archived.map((a) => a.attempt)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    }
  });

  it('archives nothing for an empty batch', async () => {
    await expect(jobs.archiveAttempts([])).resolves.toBeUndefined();
  });
});
