import { type DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dynamoDbClient, dynamoDbDocumentClient } from '#adapters/aws-clients.ts';
import { DynamoDbPilotLeaseStore } from '#adapters/dynamodb/dynamodb-pilot-lease-store.ts';
import { ValidationError } from '#core/errors.ts';
import type { PilotLease } from '#core/pilots/pilot.ts';
import { uniquePrefix, useStandInsEnv } from '#test/support/stand-ins-env.ts';
import { freshTables, makeLease, newPilotId } from '../fixtures.ts';

let restoreEnv: () => void;
let rawDb: DynamoDBClient;
let db: DynamoDBDocumentClient;
let table: string;
let leases: DynamoDbPilotLeaseStore;

beforeAll(async () => {
  restoreEnv = useStandInsEnv();
  table = (await freshTables(uniquePrefix('it-lease-'))).leases;
  rawDb = dynamoDbClient();
  db = dynamoDbDocumentClient(rawDb);
  leases = new DynamoDbPilotLeaseStore(db, table);
});

afterAll(() => {
  db?.destroy();
  rawDb?.destroy();
  restoreEnv?.();
});

/** The lease item as DynamoDB stores it (attribute values with their types). */
async function rawItem(pilotId: string) {
  return (await rawDb.send(new GetItemCommand({ TableName: table, Key: { pilotId: { S: pilotId } } }))).Item;
}

/** A lease created in `state` (expiring at `expiresAt`); the lease. */
async function created(overrides: Partial<PilotLease> = {}): Promise<PilotLease> {
  const lease = makeLease(overrides);
  await leases.create(lease);
  return lease;
}

const LATER = Date.parse('2026-11-25T10:05:00.000Z');

describe('DynamoDbPilotLeaseStore create and read', () => {
  it('names its table', () => {
    expect(leases.tableName).toBe(table);
  });

  it('creates a lease and reads it back; an unknown pilot has none', async () => {
    const lease = await created({ jobsRun: 2 });
    expect(await leases.get(lease.pilotId)).toEqual(lease);
    expect(await leases.get(newPilotId())).toBeUndefined();
  });

  it('stores no kill entries at creation (an empty string set cannot exist)', async () => {
    const lease = await created({ kill: ['t-x.0.1|cancelled'] });
    expect(await rawItem(lease.pilotId)).not.toHaveProperty('kill');
    expect((await leases.get(lease.pilotId))?.kill).toEqual([]);
  });
});

describe('DynamoDbPilotLeaseStore hold', () => {
  it('sets the attempts a live pilot holds, its state and expiry, and answers the lease', async () => {
    const lease = await created();
    const held = await leases.hold(lease.pilotId, {
      jobs: ['t-abc.0.1', 't-abc.4.2'],
      state: 'busy',
      expiresAt: LATER,
      siteId: 'site-a',
    });
    const expected = { ...lease, jobs: ['t-abc.0.1', 't-abc.4.2'], state: 'busy', expiresAt: LATER };
    expect(held).toEqual(expected);
    expect(await leases.get(lease.pilotId)).toEqual(expected);

    expect(await leases.hold(lease.pilotId, { jobs: [], state: 'idle', expiresAt: LATER + 1 })).toMatchObject(
      {
        jobs: [],
        state: 'idle',
        expiresAt: LATER + 1,
      },
    );
  });

  it('refuses a pilot of another site, one that is gone, and one that does not exist, writing nothing', async () => {
    const live = await created();
    const change = { jobs: ['t-abc.0.1'], state: 'busy' as const, expiresAt: LATER };
    expect(await leases.hold(live.pilotId, { ...change, siteId: 'site-b' })).toBeUndefined();
    expect(await leases.get(live.pilotId)).toEqual(live);

    for (const state of ['lost', 'exited'] as const) {
      const gone = await created({ state });
      expect(await leases.hold(gone.pilotId, change)).toBeUndefined();
      expect(await leases.get(gone.pilotId)).toEqual(gone);
    }

    const nobody = newPilotId();
    expect(await leases.hold(nobody, change)).toBeUndefined();
    expect(await rawItem(nobody)).toBeUndefined();
  });

  it('drops the kill entries of reported attempts and keeps the others', async () => {
    const lease = await created({ state: 'busy' });
    await leases.addKills(lease.pilotId, [
      't-abc.0.1|cancelled',
      't-abc.1.1|cancelled',
      't-abc.2.1|lease-lost',
    ]);
    const held = await leases.hold(lease.pilotId, {
      jobs: ['t-abc.1.1', 't-abc.2.1'],
      state: 'busy',
      expiresAt: LATER,
      dropKills: ['t-abc.0.1|cancelled', 't-abc.0.1|lease-lost'],
    });
    expect(held?.kill.sort()).toEqual(['t-abc.1.1|cancelled', 't-abc.2.1|lease-lost']);

    // Dropping the last entries leaves no set behind, and dropping from no set at all is fine.
    await leases.hold(lease.pilotId, {
      jobs: [],
      state: 'idle',
      expiresAt: LATER,
      dropKills: ['t-abc.1.1|cancelled', 't-abc.2.1|lease-lost'],
    });
    expect(await rawItem(lease.pilotId)).not.toHaveProperty('kill');
    expect(
      await leases.hold(lease.pilotId, {
        jobs: [],
        state: 'idle',
        expiresAt: LATER,
        dropKills: ['t-abc.9.1|cancelled'],
      }),
    ).toMatchObject({ kill: [] });
  });
});

describe('DynamoDbPilotLeaseStore renew', () => {
  it("renews a live pilot's lease: state, expiry, beat and jobs run, leaving its jobs", async () => {
    const lease = await created({ state: 'busy', jobs: ['t-abc.0.1'] });
    const renewed = await leases.renew(lease.pilotId, {
      state: 'draining',
      expiresAt: LATER,
      beatAt: '2026-11-25T10:03:00.000Z',
      jobsRun: 5,
    });
    const expected = {
      ...lease,
      state: 'draining',
      expiresAt: LATER,
      beatAt: '2026-11-25T10:03:00.000Z',
      jobsRun: 5,
    };
    expect(renewed).toEqual(expected);
    expect(await leases.get(lease.pilotId)).toEqual(expected);
  });

  it('records the exit of a live pilot, after which it renews no more', async () => {
    const lease = await created({ state: 'idle' });
    const beat = { expiresAt: LATER, beatAt: '2026-11-25T10:03:00.000Z', jobsRun: 1 };
    expect(await leases.renew(lease.pilotId, { state: 'exited', ...beat })).toMatchObject({
      state: 'exited',
    });
    expect(await leases.renew(lease.pilotId, { state: 'idle', ...beat })).toBeUndefined();
    expect((await leases.get(lease.pilotId))?.state).toBe('exited');
  });

  it('answers undefined to a lost pilot and to one that does not exist, writing nothing', async () => {
    const lost = await created({ state: 'lost' });
    const beat = { state: 'idle' as const, expiresAt: LATER, beatAt: '2026-11-25T10:03:00.000Z', jobsRun: 1 };
    expect(await leases.renew(lost.pilotId, beat)).toBeUndefined();
    expect(await leases.get(lost.pilotId)).toEqual(lost);
    const nobody = newPilotId();
    expect(await leases.renew(nobody, beat)).toBeUndefined();
    expect(await rawItem(nobody)).toBeUndefined();
  });
});

describe('DynamoDbPilotLeaseStore kill entries', () => {
  it('adds kill entries as a string set: repeated entries once, calls adding up', async () => {
    const lease = await created({ state: 'busy' });
    await leases.addKills(lease.pilotId, ['t-abc.0.1|cancelled', 't-abc.0.1|cancelled']);
    await leases.addKills(lease.pilotId, ['t-abc.3.2|cancelled', 't-abc.0.1|cancelled']);
    const item = await rawItem(lease.pilotId);
    expect(item?.kill?.SS?.sort()).toEqual(['t-abc.0.1|cancelled', 't-abc.3.2|cancelled']);
    expect((await leases.get(lease.pilotId))?.kill.sort()).toEqual([
      't-abc.0.1|cancelled',
      't-abc.3.2|cancelled',
    ]);
  });

  it('reads kill entries stored as a list too', async () => {
    const pilotId = newPilotId();
    await rawDb.send(
      new PutItemCommand({
        TableName: table,
        Item: {
          pilotId: { S: pilotId },
          siteId: { S: 'site-a' },
          state: { S: 'busy' },
          expiresAt: { N: String(LATER) },
          jobs: { L: [{ S: 't-abc.0.1' }] },
          kill: { L: [{ S: 't-abc.0.1|lease-lost' }] },
          jobsRun: { N: '0' },
        },
      }),
    );
    expect(await leases.get(pilotId)).toEqual({
      pilotId,
      siteId: 'site-a',
      state: 'busy',
      expiresAt: LATER,
      jobs: ['t-abc.0.1'],
      kill: ['t-abc.0.1|lease-lost'],
      jobsRun: 0,
    });
  });

  it('adds nothing to the lease of a pilot gone, and creates no lease for an unknown pilot', async () => {
    const lost = await created({ state: 'lost' });
    await leases.addKills(lost.pilotId, ['t-abc.0.1|cancelled']);
    expect((await leases.get(lost.pilotId))?.kill).toEqual([]);
    const nobody = newPilotId();
    await leases.addKills(nobody, ['t-abc.0.1|cancelled']);
    expect(await rawItem(nobody)).toBeUndefined();
  });

  it('sends nothing for no entries', async () => {
    const lease = await created();
    await leases.addKills(lease.pilotId, []);
    expect(await leases.get(lease.pilotId)).toEqual(lease);
  });
});

describe('DynamoDbPilotLeaseStore reaping', () => {
  const NOW = Date.parse('2026-11-25T10:10:00.000Z');

  it('marks a live pilot whose lease expired lost, and answers the lease as it was held', async () => {
    const lease = await created({ state: 'busy', jobs: ['t-abc.0.1'], expiresAt: NOW - 1 });
    expect(await leases.markLost(lease.pilotId, NOW)).toEqual({ ...lease, state: 'lost' });
    expect((await leases.get(lease.pilotId))?.state).toBe('lost');
    // Lost already: not again.
    expect(await leases.markLost(lease.pilotId, NOW)).toBeUndefined();
  });

  it('leaves a lease renewed in time, one that exited and an unknown pilot alone', async () => {
    const renewed = await created({ state: 'idle', expiresAt: NOW });
    expect(await leases.markLost(renewed.pilotId, NOW)).toBeUndefined();
    expect(await leases.get(renewed.pilotId)).toEqual(renewed);

    const exited = await created({ state: 'exited', expiresAt: NOW - 60_000 });
    expect(await leases.markLost(exited.pilotId, NOW)).toBeUndefined();
    expect((await leases.get(exited.pilotId))?.state).toBe('exited');

    const nobody = newPilotId();
    expect(await leases.markLost(nobody, NOW)).toBeUndefined();
    expect(await rawItem(nobody)).toBeUndefined();
  });

  it('removes a lease, and removing one that is gone is fine', async () => {
    const lease = await created();
    await leases.remove(lease.pilotId);
    expect(await leases.get(lease.pilotId)).toBeUndefined();
    await expect(leases.remove(lease.pilotId)).resolves.toBeUndefined();
  });

  it('sweeps every lease in pages of 1000 with a cursor, and refuses a bad cursor', async () => {
    const sweepTable = (await freshTables(uniquePrefix('it-lease-scan-'))).leases;
    const store = new DynamoDbPilotLeaseStore(db, sweepTable);
    const all = Array.from({ length: 1010 }, (_, i) =>
      makeLease({ pilotId: `p-scan${String(i).padStart(5, '0')}`, state: i % 2 === 0 ? 'busy' : 'lost' }),
    );
    for (let i = 0; i < all.length; i += 25) {
      await db.send(
        new BatchWriteCommand({
          RequestItems: {
            [sweepTable]: all
              .slice(i, i + 25)
              .map(({ kill: _kill, ...item }) => ({ PutRequest: { Item: item } })),
          },
        }),
      );
    }

    const first = await store.scan();
    expect(first.leases).toHaveLength(1000);
    expect(first.cursor).toEqual(expect.any(String));
    const second = await store.scan(first.cursor);
    expect(second.leases).toHaveLength(10);
    expect(second.cursor).toBeUndefined();
    const seen = [...first.leases, ...second.leases].sort((a, b) => a.pilotId.localeCompare(b.pilotId));
    expect(seen).toEqual(all);

    const error = await store.scan('not-a-cursor!').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
  });
});
