import {
  BatchWriteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
} from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dynamoDbDocumentClient } from '#adapters/aws-clients.ts';
import { DynamoDbTaskStore } from '#adapters/dynamodb/dynamodb-task-store.ts';
import { TASK_SK, type TableNames } from '#adapters/dynamodb/tables.ts';
import { ConflictError, ValidationError } from '#core/errors.ts';
import { emptyRangeCounters } from '#core/event-ranges/range-counts.ts';
import type { CountEntry } from '#core/tasks/ports.ts';
import { uniquePrefix, useStandInsEnv } from '#test/support/stand-ins-env.ts';
import { freshTables, makeTask, newTaskId } from '../fixtures.ts';

let restoreEnv: () => void;
let tables: TableNames;
let db: DynamoDBDocumentClient;
let store: DynamoDbTaskStore;

beforeAll(async () => {
  restoreEnv = useStandInsEnv();
  tables = await freshTables(uniquePrefix('it-task-'));
  db = dynamoDbDocumentClient();
  store = new DynamoDbTaskStore(db, tables.tasks);
});

afterAll(() => {
  db?.destroy();
  restoreEnv?.();
});

/** A document client that counts the commands sent through it, by command name. */
function countingClient(): { client: DynamoDBDocumentClient; sent: Map<string, number> } {
  const sent = new Map<string, number>();
  const client = {
    send: (command: { constructor: { name: string } }) => {
      const name = command.constructor.name;
      sent.set(name, (sent.get(name) ?? 0) + 1);
      return db.send(command as Parameters<typeof db.send>[0]);
    },
  } as unknown as DynamoDBDocumentClient;
  return { client, sent };
}

async function rawItems(taskId: string): Promise<Array<Record<string, unknown>>> {
  const out = await db.send(
    new QueryCommand({
      TableName: tables.tasks,
      KeyConditionExpression: 'taskId = :t',
      ExpressionAttributeValues: { ':t': taskId },
      ConsistentRead: true,
    }),
  );
  return out.Items ?? [];
}

/** Counter entries with consecutive sequence numbers `from`..`to`, each adding one to `running`. */
function entries(from: number, to: number, delta: CountEntry['delta'] = { running: 1 }): CountEntry[] {
  return Array.from({ length: to - from + 1 }, (_, i) => ({ seq: String(from + i), delta }));
}

describe('DynamoDbTaskStore create and read', () => {
  it('stores the head and the spec apart and reads the whole task back with derived counts', async () => {
    const task = makeTask({ jobCount: 10, jobsEnqueued: 4 });
    await store.create(task);

    expect(await store.get(task.taskId)).toEqual({
      ...task,
      counts: { defined: 6, queued: 4, running: 0, finished: 0, failed: 0, cancelled: 0 },
    });
    const items = await rawItems(task.taskId);
    expect(items.map((i) => i.sk).sort()).toEqual([TASK_SK.spec, TASK_SK.head].sort());
    expect(items.find((i) => i.sk === TASK_SK.head)).not.toHaveProperty('spec');
    expect(items.find((i) => i.sk === TASK_SK.spec)).not.toHaveProperty('owner');
  });

  it('refuses to create a task whose id exists, keeping the first', async () => {
    const task = makeTask();
    await store.create(task);
    await expect(store.create({ ...task, name: 'other' })).rejects.toBeInstanceOf(ConflictError);
    expect((await store.get(task.taskId))?.name).toBe(task.name);
  });

  it('answers undefined for a task that does not exist, whatever is read', async () => {
    const taskId = newTaskId();
    expect(await store.get(taskId)).toBeUndefined();
    expect(await store.getHead(taskId)).toBeUndefined();
    expect(await store.getHead(taskId, { consistent: false })).toBeUndefined();
    expect(await store.getSpec(taskId)).toBeUndefined();
    expect(await store.getProgress(taskId)).toBeUndefined();
  });

  it('reads the head alone, consistently or not, without spec, counts or wait token', async () => {
    const task = makeTask({ state: 'running', siteIds: ['site-a'] });
    await store.create(task);
    await store.storeWaitToken(task.taskId, 'token-head');
    const { spec: _spec, counts: _counts, rangeCounters: _rangeCounters, ...head } = task;
    expect(await store.getHead(task.taskId)).toEqual(head);
    expect(await store.getHead(task.taskId, { consistent: false })).toEqual(head);
  });

  it('reads a spec once (one Query, with a dataset task’s resolved inputs) and then serves it from its cache', async () => {
    const task = makeTask();
    await store.create(task);
    const { client, sent } = countingClient();
    const cached = new DynamoDbTaskStore(client, tables.tasks);

    expect(await cached.getSpec(task.taskId)).toEqual(task.spec);
    expect(await cached.getSpec(task.taskId)).toEqual(task.spec);
    expect(await cached.getSpec(task.taskId)).toEqual(task.spec);
    expect(sent.get('QueryCommand')).toBe(1);

    // A whole read fills the cache too.
    const other = makeTask();
    await store.create(other);
    await cached.get(other.taskId);
    sent.clear();
    expect(await cached.getSpec(other.taskId)).toEqual(other.spec);
    expect(sent.size).toBe(0);
  });

  it('keeps at most 256 specs: the oldest is read again once 256 others came after it', async () => {
    const spec = makeTask().spec;
    const ids = Array.from({ length: 257 }, () => newTaskId());
    for (let i = 0; i < ids.length; i += 25) {
      await db.send(
        new BatchWriteCommand({
          RequestItems: {
            [tables.tasks]: ids
              .slice(i, i + 25)
              .map((taskId) => ({ PutRequest: { Item: { taskId, sk: TASK_SK.spec, spec } } })),
          },
        }),
      );
    }
    const { client, sent } = countingClient();
    const cached = new DynamoDbTaskStore(client, tables.tasks);
    for (const taskId of ids.slice(0, 256)) await cached.getSpec(taskId);
    await cached.getSpec(ids[0] as string);
    expect(sent.get('QueryCommand')).toBe(256);

    await cached.getSpec(ids[256] as string);
    await cached.getSpec(ids[1] as string);
    expect(sent.get('QueryCommand')).toBe(257);
    expect(await cached.getSpec(ids[0] as string)).toEqual(spec);
    expect(sent.get('QueryCommand')).toBe(258);
  });

  it('reads progress (head, counts and wait token) without the spec', async () => {
    const task = makeTask({ state: 'running', jobsEnqueued: 10 });
    await store.create(task);
    await store.storeWaitToken(task.taskId, 'token-progress');
    await store.addJobCounts(task.taskId, 'shard-1', [{ seq: '1', delta: { recorded: 1, running: 1 } }]);
    await store.addJobCounts(task.taskId, 'shard-2', [{ seq: '7', delta: { recorded: 1, finished: 1 } }]);

    const progress = await store.getProgress(task.taskId);

    const { spec: _spec, counts: _counts, rangeCounters: _rangeCounters, ...head } = task;
    expect(progress).toEqual({
      ...head,
      waitToken: 'token-progress',
      counts: { defined: 0, queued: 8, running: 1, finished: 1, failed: 0, cancelled: 0 },
      rangeCounters: emptyRangeCounters(),
    });
  });
});

describe('DynamoDbTaskStore listing', () => {
  it("lists an owner's tasks newest first, in pages, with their counts", async () => {
    const owner = `bob-${Date.now()}`;
    const created = ['2026-11-20T00:00:00.000Z', '2026-11-22T00:00:00.000Z', '2026-11-21T00:00:00.000Z'].map(
      (at) => makeTask({ owner, createdAt: at, updatedAt: at, jobCount: 2, jobsEnqueued: 2 }),
    );
    for (const task of created) await store.create(task);
    await store.create(makeTask({ owner: `${owner}-other` }));
    await store.addJobCounts(created[1]?.taskId as string, 'shard-1', [
      { seq: '3', delta: { recorded: 1, finished: 1 } },
    ]);

    const first = await store.listByOwner(owner, { limit: 2 });
    expect(first.items.map((t) => t.createdAt)).toEqual([
      '2026-11-22T00:00:00.000Z',
      '2026-11-21T00:00:00.000Z',
    ]);
    expect(first.items[0]?.counts).toEqual({
      defined: 0,
      queued: 1,
      running: 0,
      finished: 1,
      failed: 0,
      cancelled: 0,
    });
    expect(first.items[1]?.counts.queued).toBe(2);
    expect(first.items[0]).not.toHaveProperty('spec');
    expect(first.items[0]).not.toHaveProperty('waitToken');
    expect(first.nextToken).toEqual(expect.any(String));

    const second = await store.listByOwner(owner, { limit: 2, nextToken: first.nextToken });
    expect(second.items.map((t) => t.createdAt)).toEqual(['2026-11-20T00:00:00.000Z']);
    expect([...first.items, ...second.items].every((t) => t.owner === owner)).toBe(true);
  });

  it('refuses a bad page token, or one of another owner, as a ValidationError on nextToken', async () => {
    const owner = `carol-${Date.now()}`;
    for (let i = 0; i < 3; i++) await store.create(makeTask({ owner }));
    const page = await store.listByOwner(owner, { limit: 1 });
    expect(page.nextToken).toBeDefined();
    for (const nextToken of [
      'not a token',
      'e30',
      Buffer.from('[1]').toString('base64url'),
      page.nextToken,
    ]) {
      const who = nextToken === page.nextToken ? `${owner}-x` : owner;
      const error = await store.listByOwner(who, { limit: 1, nextToken }).catch((e: unknown) => e);
      expect(error, String(nextToken)).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).issues.map((i) => i.field)).toEqual(['nextToken']);
    }
  });
});

describe('DynamoDbTaskStore changes', () => {
  it('applies a transition once and answers false to its replay', async () => {
    const task = makeTask();
    await store.create(task);
    const at = '2026-11-25T10:00:00.000Z';
    expect(await store.transition(task.taskId, 'split', { at, siteIds: ['site-a', 'site-b'] })).toBe(true);
    expect(await store.transition(task.taskId, 'split', { at })).toBe(false);
    const got = await store.get(task.taskId);
    expect(got).toMatchObject({ state: 'splitting', siteIds: ['site-a', 'site-b'], updatedAt: at });
    expect(got?.history).toEqual([...task.history, { state: 'splitting', at }]);
    expect(got?.endedAt).toBeUndefined();
  });

  it('sets endedAt and the reason on a final state, after which nothing moves', async () => {
    const task = makeTask({ state: 'running' });
    await store.create(task);
    const end = '2026-11-25T10:02:00.000Z';
    expect(await store.transition(task.taskId, 'fail', { at: end, reason: 'no site' })).toBe(true);
    const failed = await store.get(task.taskId);
    expect(failed).toMatchObject({ state: 'failed', endedAt: end, reason: 'no site' });
    expect(failed?.history.at(-1)).toEqual({ state: 'failed', at: end, reason: 'no site' });
    expect(await store.transition(task.taskId, 'cancel', { at: end })).toBe(false);
  });

  it('answers false to a transition of a task that does not exist, writing nothing', async () => {
    const taskId = newTaskId();
    expect(await store.transition(taskId, 'split', { at: new Date().toISOString() })).toBe(false);
    expect(await rawItems(taskId)).toEqual([]);
  });

  it('records enqueue progress only forwards, and nothing for a task that does not exist', async () => {
    const task = makeTask({ jobCount: 30 });
    await store.create(task);
    await store.recordEnqueued(task.taskId, 10, '2026-11-25T10:00:00.000Z');
    await store.recordEnqueued(task.taskId, 5, '2026-11-25T10:00:01.000Z');
    expect(await store.getHead(task.taskId)).toMatchObject({
      jobsEnqueued: 10,
      updatedAt: '2026-11-25T10:00:00.000Z',
    });
    await store.recordEnqueued(task.taskId, 30, '2026-11-25T10:00:02.000Z');
    expect((await store.get(task.taskId))?.counts).toMatchObject({ defined: 0, queued: 30 });

    const missing = newTaskId();
    await store.recordEnqueued(missing, 3, '2026-11-25T10:00:02.000Z');
    expect(await rawItems(missing)).toEqual([]);
  });

  it('requests cancel on a live task and reports the state it saw', async () => {
    const task = makeTask({ state: 'running' });
    await store.create(task);
    expect(await store.requestCancel(task.taskId, '2026-11-25T11:00:00.000Z')).toBe('running');
    expect(await store.getHead(task.taskId)).toMatchObject({
      state: 'running',
      cancelRequested: true,
      updatedAt: '2026-11-25T11:00:00.000Z',
    });
  });

  it('leaves a final task alone on cancel and reports its state; undefined for no task', async () => {
    const task = makeTask({ state: 'done' });
    await store.create(task);
    expect(await store.requestCancel(task.taskId, '2026-11-25T11:00:00.000Z')).toBe('done');
    expect((await store.getHead(task.taskId))?.cancelRequested).toBe(false);

    const missing = newTaskId();
    expect(await store.requestCancel(missing, '2026-11-25T11:00:00.000Z')).toBeUndefined();
    expect(await rawItems(missing)).toEqual([]);
  });

  it('marks a task swept, and writes nothing for a task that does not exist', async () => {
    const task = makeTask({ state: 'running', cancelRequested: true });
    await store.create(task);
    expect((await store.getHead(task.taskId))?.cancelSwept).toBe(false);
    await store.markCancelSwept(task.taskId, '2026-11-25T11:00:05.000Z');
    expect(await store.getHead(task.taskId)).toMatchObject({
      cancelSwept: true,
      updatedAt: '2026-11-25T11:00:05.000Z',
    });

    const missing = newTaskId();
    await store.markCancelSwept(missing, '2026-11-25T11:00:05.000Z');
    expect(await rawItems(missing)).toEqual([]);
  });

  it('keeps the latest wait token on the head, out of the task and its head', async () => {
    const task = makeTask({ state: 'running' });
    await store.create(task);
    await store.storeWaitToken(task.taskId, 'token-1');
    await store.storeWaitToken(task.taskId, 'token-2');
    expect((await store.getProgress(task.taskId))?.waitToken).toBe('token-2');
    const raw = await db.send(
      new GetCommand({ TableName: tables.tasks, Key: { taskId: task.taskId, sk: TASK_SK.head } }),
    );
    expect(raw.Item?.waitToken).toBe('token-2');
    expect(await store.get(task.taskId)).not.toHaveProperty('waitToken');
    expect(await store.getHead(task.taskId)).not.toHaveProperty('waitToken');

    const missing = newTaskId();
    await store.storeWaitToken(missing, 'token-x');
    expect(await rawItems(missing)).toEqual([]);
  });
});

describe('DynamoDbTaskStore job counters', () => {
  /** A running task with all 10 jobs enqueued; its id. */
  async function runningTask(): Promise<string> {
    const task = makeTask({ state: 'running', jobsEnqueued: 10 });
    await store.create(task);
    return task.taskId;
  }

  async function counts(taskId: string) {
    return (await store.get(taskId))?.counts;
  }

  it('adds the deltas of a batch to the counts', async () => {
    const taskId = await runningTask();
    await store.addJobCounts(taskId, 'shard-1', [
      { seq: '11', delta: { recorded: 1, running: 1 } },
      { seq: '12', delta: { recorded: 1, running: 1 } },
      { seq: '13', delta: { running: -1, finished: 1 } },
    ]);
    expect(await counts(taskId)).toEqual({
      defined: 0,
      queued: 8,
      running: 1,
      finished: 1,
      failed: 0,
      cancelled: 0,
    });
    const counter = (await rawItems(taskId)).find((i) => i.sk === `${TASK_SK.countsPrefix}shard-1`);
    expect(counter).toMatchObject({ recorded: 2, running: 1, finished: 1, lastSeq: '13'.padStart(48, '0') });
  });

  it('counts a batch delivered again only once', async () => {
    const taskId = await runningTask();
    const batch = entries(1, 3);
    await store.addJobCounts(taskId, 'shard-1', batch);
    await store.addJobCounts(taskId, 'shard-1', batch);
    await store.addJobCounts(taskId, 'shard-1', batch.slice(1));
    expect((await counts(taskId))?.running).toBe(3);
  });

  it('counts only the new part of a batch that overlaps one applied before', async () => {
    const taskId = await runningTask();
    await store.addJobCounts(taskId, 'shard-1', entries(1, 3));
    await store.addJobCounts(taskId, 'shard-1', entries(2, 6));
    expect((await counts(taskId))?.running).toBe(6);
    await store.addJobCounts(taskId, 'shard-1', entries(6, 7));
    expect((await counts(taskId))?.running).toBe(7);
  });

  it('counts each feed apart: the same sequence numbers in two feeds both count', async () => {
    const taskId = await runningTask();
    await store.addJobCounts(taskId, 'shard-1', entries(1, 2));
    await store.addJobCounts(taskId, 'shard-2', entries(1, 2));
    await store.addJobCounts(taskId, 'shard-2', entries(1, 2));
    expect((await counts(taskId))?.running).toBe(4);
    const counters = (await rawItems(taskId)).filter((i) => String(i.sk).startsWith(TASK_SK.countsPrefix));
    expect(counters.map((i) => i.sk).sort()).toEqual(['counts#shard-1', 'counts#shard-2']);
  });

  it('orders sequence numbers as numbers of any length, and sorts a batch given out of order', async () => {
    const taskId = await runningTask();
    await store.addJobCounts(taskId, 'shard-1', [
      { seq: '10', delta: { running: 1 } },
      { seq: '9', delta: { running: 1 } },
    ]);
    // 9 and 10 are applied: a redelivery of 9 alone counts nothing, 100000000000000000001 counts.
    await store.addJobCounts(taskId, 'shard-1', [{ seq: '9', delta: { running: 1 } }]);
    await store.addJobCounts(taskId, 'shard-1', [{ seq: '000000000000000000011', delta: { running: 1 } }]);
    await store.addJobCounts(taskId, 'shard-1', [{ seq: '100000000000000000001', delta: { running: 1 } }]);
    expect((await counts(taskId))?.running).toBe(4);
  });

  it('moves the position on an entry that changes no counter, so its redelivery is skipped too', async () => {
    const taskId = await runningTask();
    await store.addJobCounts(taskId, 'shard-1', [{ seq: '5', delta: {} }]);
    await store.addJobCounts(taskId, 'shard-1', [
      { seq: '5', delta: { running: 1 } },
      { seq: '6', delta: { running: 1 } },
    ]);
    expect((await counts(taskId))?.running).toBe(1);
  });

  it('counts a batch once when two consumers deliver it at the same time', async () => {
    const taskId = await runningTask();
    const batch = entries(1, 4);
    await Promise.all([
      store.addJobCounts(taskId, 'shard-1', batch),
      store.addJobCounts(taskId, 'shard-1', batch),
      store.addJobCounts(taskId, 'shard-1', batch),
    ]);
    expect((await counts(taskId))?.running).toBe(4);
  });

  it('derives cancelled counts for a cancelled task: queued and defined jobs will never run', async () => {
    const task = makeTask({ state: 'running', jobsEnqueued: 6, cancelRequested: true });
    await store.create(task);
    await store.addJobCounts(task.taskId, 'shard-1', [
      { seq: '1', delta: { recorded: 1, running: 1 } },
      { seq: '2', delta: { recorded: 1, finished: 1 } },
    ]);
    expect(await counts(task.taskId)).toEqual({
      defined: 0,
      queued: 0,
      running: 1,
      finished: 1,
      failed: 0,
      cancelled: 8,
    });
  });
});

describe('DynamoDbTaskStore range counters', () => {
  it('keeps range counters in items of their own, read with the job counters and the head in one Query', async () => {
    const task = makeTask({ state: 'running', jobsEnqueued: 10 });
    await store.create(task);
    await store.addJobCounts(task.taskId, 'shard-1', [{ seq: '1', delta: { recorded: 1, running: 1 } }]);
    await store.addRangeCounts(task.taskId, 'shard-1', [
      { seq: '1', delta: { recorded: 1, finished: 1, eventsFinished: 100 } },
      { seq: '2', delta: { recorded: 1, running: 1 } },
    ]);
    await store.addRangeCounts(task.taskId, 'shard-2', [{ seq: '9', delta: { recorded: 1, failed: 1 } }]);

    const items = await rawItems(task.taskId);
    expect(items.map((i) => i.sk)).toEqual([
      TASK_SK.spec,
      `${TASK_SK.countsPrefix}shard-1`,
      `${TASK_SK.rangeCountsPrefix}shard-1`,
      `${TASK_SK.rangeCountsPrefix}shard-2`,
      TASK_SK.head,
    ]);
    expect(items.find((i) => i.sk === `${TASK_SK.rangeCountsPrefix}shard-1`)).toMatchObject({
      recorded: 2,
      finished: 1,
      running: 1,
      eventsFinished: 100,
      lastSeq: '2'.padStart(48, '0'),
    });

    const { client, sent } = countingClient();
    const progress = await new DynamoDbTaskStore(client, tables.tasks).getProgress(task.taskId);
    expect([...sent]).toEqual([['QueryCommand', 1]]);
    expect(progress?.counts).toMatchObject({ queued: 9, running: 1 });
    expect(progress?.rangeCounters).toEqual({
      ...emptyRangeCounters(),
      recorded: 3,
      running: 1,
      finished: 1,
      failed: 1,
      eventsFinished: 100,
    });
  });
});
