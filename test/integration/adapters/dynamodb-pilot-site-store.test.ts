import {
  BatchWriteCommand,
  type BatchWriteCommandInput,
  type BatchWriteCommandOutput,
  GetCommand,
  ScanCommand,
} from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError, ValidationError } from '#core/errors.ts';
import type { Pilot } from '#core/pilots/pilot.ts';
import { SiteSchema } from '#core/sites/site.ts';
import { dynamoDbDocumentClient } from '#adapters/aws-clients.ts';
import { mapBounded } from '#adapters/concurrency.ts';
import { DynamoDbPilotStore, PILOT_RETENTION_SEC } from '#adapters/dynamodb/dynamodb-pilot-store.ts';
import { DynamoDbSiteStore } from '#adapters/dynamodb/dynamodb-site-store.ts';
import { uniquePrefix, useStandInsEnv } from '#test/support/stand-ins-env.ts';
import { freshTables } from './fixtures.ts';

let restoreEnv: () => void;
let db: ReturnType<typeof dynamoDbDocumentClient>;
let pilots: DynamoDbPilotStore;
let pilotsTable: string;
let sites: DynamoDbSiteStore;

beforeAll(async () => {
  restoreEnv = useStandInsEnv();
  const tables = await freshTables(uniquePrefix('it-pilot-'));
  pilotsTable = tables.pilots;
  db = dynamoDbDocumentClient();
  pilots = new DynamoDbPilotStore(db, tables.pilots);
  sites = new DynamoDbSiteStore(db, tables.sites);
});

afterAll(() => {
  db?.destroy();
  restoreEnv?.();
});

function makePilot(
  pilotId: string,
  lastHeartbeatAt: string,
  state: Pilot['state'] = 'idle',
  siteId = 'site-a',
): Pilot {
  return {
    pilotId,
    siteId,
    host: 'wn01',
    pid: 4242,
    version: 'dev',
    resources: { cores: 4, memoryMB: 8000, diskMB: 20_000, walltimeLeftSec: 3600 },
    state,
    registeredAt: lastHeartbeatAt,
    lastHeartbeatAt,
    jobsRun: 0,
  };
}

describe('DynamoDbPilotStore', () => {
  it('registers a pilot once and records heartbeats and jobs', async () => {
    const pilot = makePilot('p-reg001', '2026-11-25T10:00:00.000Z');
    await pilots.register(pilot);
    await expect(pilots.register(pilot)).rejects.toBeInstanceOf(ConflictError);
    expect(await pilots.get(pilot.pilotId)).toEqual(pilot);

    await pilots.heartbeat(pilot.pilotId, {
      state: 'busy',
      at: '2026-11-25T10:01:00.000Z',
      currentJobId: 't-x.1',
    });
    expect(await pilots.get(pilot.pilotId)).toMatchObject({
      state: 'busy',
      currentJobId: 't-x.1',
      jobsRun: 0,
    });
    await pilots.jobEnded(pilot.pilotId, '2026-11-25T10:01:30.000Z');
    await pilots.jobEnded(pilot.pilotId, '2026-11-25T10:01:40.000Z');
    const ended = await pilots.get(pilot.pilotId);
    expect(ended).toMatchObject({ state: 'idle', lastHeartbeatAt: '2026-11-25T10:01:40.000Z', jobsRun: 2 });
    expect(ended?.currentJobId).toBeUndefined();
    await pilots.heartbeat(pilot.pilotId, { state: 'idle', at: '2026-11-25T10:02:00.000Z' });
    expect((await pilots.get(pilot.pilotId))?.currentJobId).toBeUndefined();

    await expect(pilots.heartbeat('p-nobody', { state: 'idle', at: 'x' })).rejects.toBeInstanceOf(
      NotFoundError,
    );
    await expect(pilots.jobEnded('p-nobody', '2026-11-25T03:00:00.000Z')).rejects.toBeInstanceOf(
      NotFoundError,
    );
    expect(await pilots.get('p-nobody')).toBeUndefined();
  });

  it('marks silent live pilots lost, and only them', async () => {
    await pilots.register(makePilot('p-silent1', '2026-11-20T10:00:00.000Z', 'busy'));
    await pilots.register(makePilot('p-silent2', '2026-11-20T11:00:00.000Z', 'starting'));
    await pilots.register(makePilot('p-gone001', '2026-11-20T10:00:00.000Z', 'exited'));
    await pilots.register(makePilot('p-alive01', '2026-11-21T10:00:00.000Z', 'idle'));

    const lost = await pilots.markLost('2026-11-21T00:00:00.000Z');
    expect(lost.sort()).toEqual(['p-silent1', 'p-silent2']);
    expect((await pilots.get('p-silent1'))?.state).toBe('lost');
    expect((await pilots.get('p-gone001'))?.state).toBe('exited');
    expect((await pilots.get('p-alive01'))?.state).toBe('idle');
    expect(await pilots.markLost('2026-11-21T00:00:00.000Z')).toEqual([]);
  });

  it('lists pilots in pages and rejects a bad page token', async () => {
    const ids = new Set<string>();
    let nextToken: string | undefined;
    let pages = 0;
    do {
      const page = await pilots.list({ limit: 2, nextToken });
      for (const p of page.items) ids.add(p.pilotId);
      nextToken = page.nextToken;
      pages++;
    } while (nextToken !== undefined && pages < 20);
    expect(ids.size).toBeGreaterThanOrEqual(5);
    expect(ids.has('p-reg001')).toBe(true);
    const error = await pilots.list({ limit: 2, nextToken: 'bad!' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
  });

  // After the listing test: these pilots would otherwise push the ones it looks for past its page cap.
  it("counts a site's live pilots by state, leaving out other sites and pilots that are gone", async () => {
    const at = '2026-11-25T10:00:00.000Z';
    const states: Array<[Pilot['state'], number]> = [
      ['starting', 2],
      ['idle', 3],
      ['busy', 4],
      ['draining', 1],
      ['exited', 2],
      ['lost', 2],
      ['unhealthy', 3],
    ];
    for (const siteId of ['count-a', 'count-b']) {
      for (const [state, count] of states) {
        for (let i = 0; i < count; i++) {
          // count-b gets twice as many, so a count that mixes the sites shows.
          for (let copy = 0; copy < (siteId === 'count-b' ? 2 : 1); copy++) {
            await pilots.register(makePilot(`p-${siteId}-${state}-${i}-${copy}`, at, state, siteId));
          }
        }
      }
    }

    expect(await pilots.countBySite('count-a')).toEqual({ starting: 2, idle: 3, busy: 4, draining: 1 });
    expect(await pilots.countBySite('count-b')).toEqual({ starting: 4, idle: 6, busy: 8, draining: 2 });
    expect(await pilots.countBySite('count-none')).toEqual({ starting: 0, idle: 0, busy: 0, draining: 0 });

    // A pilot that goes from live to gone stops counting; one that starts work moves to busy.
    await pilots.heartbeat('p-count-a-idle-0-0', { state: 'exited', at });
    await pilots.heartbeat('p-count-a-starting-0-0', { state: 'busy', at, currentJobId: 't-x.0' });
    expect(await pilots.countBySite('count-a')).toEqual({ starting: 1, idle: 2, busy: 5, draining: 1 });
  });

  it('counts over every page of the scan (1 MB each), not just the first', async () => {
    const tables = await freshTables(uniquePrefix('it-pilot-pages-'));
    // Pilots of about 1 KB each: 1,500 of them make the scan return more than one page.
    const padding = 'x'.repeat(1000);
    const all = Array.from({ length: 1500 }, (_, i) => ({
      ...makePilot(
        `p-page-${String(i).padStart(5, '0')}`,
        '2026-11-25T10:00:00.000Z',
        i % 3 === 0 ? 'busy' : 'exited',
        i % 2 === 0 ? 'paged-a' : 'paged-b',
      ),
      host: `wn${i}.${padding}`,
    }));
    const batches = Array.from({ length: Math.ceil(all.length / 25) }, (_, b) =>
      all.slice(b * 25, b * 25 + 25),
    );
    await mapBounded(batches, 8, async (batch) => {
      let pending: BatchWriteCommandInput['RequestItems'] = {
        [tables.pilots]: batch.map((Item) => ({ PutRequest: { Item } })),
      };
      while (pending !== undefined && (pending[tables.pilots]?.length ?? 0) > 0) {
        const out: BatchWriteCommandOutput = await db.send(new BatchWriteCommand({ RequestItems: pending }));
        pending = out.UnprocessedItems;
      }
    });
    let scans = 0;
    const counting = {
      send: (command: Parameters<typeof db.send>[0]) => {
        if (command instanceof ScanCommand) scans++;
        return db.send(command);
      },
    } as unknown as typeof db;

    const counts = await new DynamoDbPilotStore(counting, tables.pilots).countBySite('paged-a');

    const expected = all.filter((p) => p.siteId === 'paged-a' && p.state === 'busy').length;
    expect(expected).toBe(250);
    expect(counts).toEqual({ starting: 0, idle: 0, busy: expected, draining: 0 });
    expect(scans).toBeGreaterThan(1);
  });
});

describe('DynamoDbSiteStore', () => {
  it('puts, replaces, gets and lists sites', async () => {
    const a = SiteSchema.parse({ siteId: 'site-b', maxPilots: 3 });
    const b = SiteSchema.parse({ siteId: 'site-a', kind: 'hpc', tags: ['slurm'] });
    await sites.put(a);
    await sites.put(b);
    await sites.put({ ...a, status: 'offline' });
    expect(await sites.get('site-b')).toEqual({ ...a, status: 'offline' });
    expect(await sites.get('site-zzz')).toBeUndefined();
    expect(await sites.list()).toEqual([b, { ...a, status: 'offline' }]);
  });
});

describe('DynamoDbPilotStore expiry', () => {
  it('gives a pilot that is gone (exited, lost, unhealthy) a TTL 30 days on, and keeps it out of the domain shape', async () => {
    const raw = async (pilotId: string) =>
      (await db.send(new GetCommand({ TableName: pilotsTable, Key: { pilotId } }))).Item ?? {};
    const at = '2026-11-25T10:00:00.000Z';
    const expected = Date.parse(at) / 1000 + PILOT_RETENTION_SEC;
    await pilots.register(makePilot('p-ttl0001', at));
    expect(await raw('p-ttl0001')).not.toHaveProperty('expiresAt');
    await pilots.heartbeat('p-ttl0001', { state: 'busy', at, currentJobId: 't-x.1' });
    expect(await raw('p-ttl0001')).not.toHaveProperty('expiresAt');
    await pilots.heartbeat('p-ttl0001', { state: 'exited', at });
    expect((await raw('p-ttl0001')).expiresAt).toBe(expected);
    expect(await pilots.get('p-ttl0001')).not.toHaveProperty('expiresAt');

    await pilots.register(makePilot('p-ttl0002', at, 'unhealthy'));
    expect((await raw('p-ttl0002')).expiresAt).toBe(expected);

    await pilots.register(makePilot('p-ttl0003', '2026-01-01T00:00:00.000Z', 'busy'));
    expect(await pilots.markLost(at)).toContain('p-ttl0003');
    expect((await raw('p-ttl0003')).expiresAt).toBe(expected);
  });
});
