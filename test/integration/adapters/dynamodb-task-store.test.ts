import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError, ValidationError } from '#core/errors.ts';
import { dynamoDbDocumentClient } from '#adapters/aws-clients.ts';
import { DynamoDbTaskStore } from '#adapters/dynamodb/dynamodb-task-store.ts';
import type { TableNames } from '#adapters/dynamodb/tables.ts';
import { uniquePrefix, useStandInsEnv } from '#test/support/stand-ins-env.ts';
import { freshTables, makeTask } from './fixtures.ts';

let restoreEnv: () => void;
let tables: TableNames;
let db: ReturnType<typeof dynamoDbDocumentClient>;
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

describe('DynamoDbTaskStore', () => {
  it('creates a task and reads it back with derived counts', async () => {
    const task = makeTask({ jobCount: 10, jobsEnqueued: 4 });
    await store.create(task);
    const got = await store.get(task.taskId);
    expect(got).toEqual({
      ...task,
      counts: { defined: 6, queued: 4, starting: 0, running: 0, finished: 0, failed: 0, cancelled: 0 },
    });
  });

  it('refuses to create a task whose id exists', async () => {
    const task = makeTask();
    await store.create(task);
    await expect(store.create({ ...task, name: 'other' })).rejects.toBeInstanceOf(ConflictError);
    expect((await store.get(task.taskId))?.name).toBe(task.name);
  });

  it('returns undefined for a task that does not exist', async () => {
    expect(await store.get('t-doesnotexist')).toBeUndefined();
  });

  it('applies a transition once and returns false on its replay', async () => {
    const task = makeTask();
    await store.create(task);
    const at = '2026-11-25T10:00:00.000Z';
    expect(await store.transition(task.taskId, 'split', { at })).toBe(true);
    expect(await store.transition(task.taskId, 'split', { at })).toBe(false);
    const got = await store.get(task.taskId);
    expect(got?.state).toBe('splitting');
    expect(got?.history).toEqual([...task.history, { state: 'splitting', at }]);
    expect(got?.updatedAt).toBe(at);
  });

  it('sets jobCount and siteIds on run, and endedAt and reason on a final state', async () => {
    const task = makeTask({ state: 'splitting' });
    await store.create(task);
    expect(
      await store.transition(task.taskId, 'run', {
        at: '2026-11-25T10:01:00.000Z',
        jobCount: 7,
        siteIds: ['site-a', 'site-b'],
      }),
    ).toBe(true);
    expect(await store.transition(task.taskId, 'run', { at: '2026-11-25T10:01:30.000Z' })).toBe(false);
    const running = await store.get(task.taskId);
    expect(running).toMatchObject({ state: 'running', jobCount: 7, siteIds: ['site-a', 'site-b'] });
    expect(running?.endedAt).toBeUndefined();

    const end = '2026-11-25T10:02:00.000Z';
    expect(await store.transition(task.taskId, 'fail', { at: end, reason: 'no site' })).toBe(true);
    const failed = await store.get(task.taskId);
    expect(failed).toMatchObject({ state: 'failed', endedAt: end, reason: 'no site' });
    expect(failed?.history.at(-1)).toEqual({ state: 'failed', at: end, reason: 'no site' });
    // A final task moves no more.
    expect(await store.transition(task.taskId, 'cancel', { at: end })).toBe(false);
  });

  it('returns false for a transition of a task that does not exist', async () => {
    expect(await store.transition('t-missing0000', 'split', { at: new Date().toISOString() })).toBe(false);
  });

  it('records enqueue progress only forwards', async () => {
    const task = makeTask({ jobCount: 30 });
    await store.create(task);
    await store.recordEnqueued(task.taskId, 10, '2026-11-25T10:00:00.000Z');
    await store.recordEnqueued(task.taskId, 5, '2026-11-25T10:00:01.000Z');
    expect((await store.get(task.taskId))?.jobsEnqueued).toBe(10);
    await store.recordEnqueued(task.taskId, 30, '2026-11-25T10:00:02.000Z');
    const got = await store.get(task.taskId);
    expect(got?.jobsEnqueued).toBe(30);
    expect(got?.counts.defined).toBe(0);
    expect(got?.counts.queued).toBe(30);
    // No stray item for a task that does not exist.
    await store.recordEnqueued('t-missing0001', 3, '2026-11-25T10:00:02.000Z');
    expect(await store.get('t-missing0001')).toBeUndefined();
  });

  it('requests cancel on a live task and reports the state it saw', async () => {
    const task = makeTask({ state: 'running' });
    await store.create(task);
    expect(await store.requestCancel(task.taskId, '2026-11-25T11:00:00.000Z')).toBe('running');
    const got = await store.get(task.taskId);
    expect(got?.cancelRequested).toBe(true);
    expect(got?.state).toBe('running');
  });

  it('leaves a final task alone on cancel and reports its state', async () => {
    const task = makeTask({ state: 'done' });
    await store.create(task);
    expect(await store.requestCancel(task.taskId, '2026-11-25T11:00:00.000Z')).toBe('done');
    expect((await store.get(task.taskId))?.cancelRequested).toBe(false);
  });

  it('reports undefined when cancelling a task that does not exist', async () => {
    expect(await store.requestCancel('t-missing0002', '2026-11-25T11:00:00.000Z')).toBeUndefined();
    expect(await store.get('t-missing0002')).toBeUndefined();
  });

  it('gives the wait token to exactly one of several racing callers', async () => {
    const task = makeTask({ state: 'running' });
    await store.create(task);
    expect(await store.takeWaitToken(task.taskId)).toBeUndefined();
    await store.storeWaitToken(task.taskId, 'token-1');
    const taken = await Promise.all(Array.from({ length: 6 }, () => store.takeWaitToken(task.taskId)));
    expect(taken.filter((t) => t !== undefined)).toEqual(['token-1']);
    expect(await store.takeWaitToken(task.taskId)).toBeUndefined();

    // A restarted execution stores a new token, which can be taken once again.
    await store.storeWaitToken(task.taskId, 'token-2');
    expect(await store.takeWaitToken(task.taskId)).toBe('token-2');
    expect(await store.takeWaitToken(task.taskId)).toBeUndefined();

    // The token stays out of the domain task.
    const got = await store.get(task.taskId);
    expect(got).not.toHaveProperty('waitToken');
    expect(got).not.toHaveProperty('waitReleased');
    expect(got).not.toHaveProperty('sk');
    const raw = await db.send(
      new GetCommand({ TableName: tables.tasks, Key: { taskId: task.taskId, sk: 'task' } }),
    );
    expect(raw.Item?.waitToken).toBe('token-2');
  });

  it('lists the tasks of an owner newest first, in pages', async () => {
    const owner = `bob-${Date.now()}`;
    const created = ['2026-11-20T00:00:00.000Z', '2026-11-22T00:00:00.000Z', '2026-11-21T00:00:00.000Z'].map(
      (at) => makeTask({ owner, createdAt: at, updatedAt: at, jobCount: 2, jobsEnqueued: 2 }),
    );
    for (const task of created) await store.create(task);
    await store.create(makeTask({ owner: `${owner}-other` }));

    const first = await store.listByOwner(owner, { limit: 2 });
    expect(first.items.map((t) => t.createdAt)).toEqual([
      '2026-11-22T00:00:00.000Z',
      '2026-11-21T00:00:00.000Z',
    ]);
    expect(first.items[0]?.counts.queued).toBe(2);
    expect(first.nextToken).toBeDefined();
    const second = await store.listByOwner(owner, { limit: 2, nextToken: first.nextToken });
    expect(second.items.map((t) => t.createdAt)).toEqual(['2026-11-20T00:00:00.000Z']);
    const all = [...first.items, ...second.items];
    expect(all.every((t) => t.owner === owner)).toBe(true);
    expect(all).toHaveLength(3);
  });

  it('rejects a bad or foreign page token as a ValidationError on nextToken', async () => {
    const owner = `carol-${Date.now()}`;
    for (let i = 0; i < 3; i++) await store.create(makeTask({ owner }));
    const page = await store.listByOwner(owner, { limit: 1 });
    expect(page.nextToken).toBeDefined();
    for (const nextToken of ['not a token', 'e30', Buffer.from('[1]').toString('base64url')]) {
      const error = await store.listByOwner(owner, { limit: 1, nextToken }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).issues[0]?.field).toBe('nextToken');
    }
    // Another owner's token is not accepted either.
    const error = await store
      .listByOwner(`${owner}-x`, { limit: 1, nextToken: page.nextToken })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
  });
});
