import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError, ValidationError } from '#core/errors.ts';
import type { Pilot } from '#core/model/pilot.ts';
import { SiteSchema } from '#core/model/site.ts';
import { dynamoDbDocumentClient } from '#lambdas/adapters/aws-clients.ts';
import { DynamoDbPilotStore } from '#lambdas/adapters/dynamodb/dynamodb-pilot-store.ts';
import { DynamoDbSiteStore } from '#lambdas/adapters/dynamodb/dynamodb-site-store.ts';
import { uniquePrefix, useStandInsEnv } from '#test/support/stand-ins-env.ts';
import { freshTables } from './fixtures.ts';

let restoreEnv: () => void;
let db: ReturnType<typeof dynamoDbDocumentClient>;
let pilots: DynamoDbPilotStore;
let sites: DynamoDbSiteStore;

beforeAll(async () => {
  restoreEnv = useStandInsEnv();
  const tables = await freshTables(uniquePrefix('it-pilot-'));
  db = dynamoDbDocumentClient();
  pilots = new DynamoDbPilotStore(db, tables.pilots);
  sites = new DynamoDbSiteStore(db, tables.sites);
});

afterAll(() => {
  db?.destroy();
  restoreEnv?.();
});

function makePilot(pilotId: string, lastHeartbeatAt: string, state: Pilot['state'] = 'idle'): Pilot {
  return {
    pilotId,
    siteId: 'site-a',
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
