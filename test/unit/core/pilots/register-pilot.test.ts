import { describe, expect, it } from 'vitest';
import type { PilotCredentials } from '#core/api/pilots.ts';
import { ConflictError, ForbiddenError, NotFoundError, PilotGoneError } from '#core/errors.ts';
import type { HealthCheck, PilotRegistration } from '#core/pilots/pilot.ts';
import { pilotHeartbeat } from '#core/pilots/pilot-heartbeat.ts';
import { reapPilots } from '#core/pilots/reap-pilots.ts';
import { registerPilot, renewPilotCredentials } from '#core/pilots/register-pilot.ts';
import { PRICE_TABLE_DATE } from '#core/provisioning/prices.ts';
import { DEFAULT_START, type InMemoryDeps, inMemoryDeps } from '#test/support/in-memory-ports.ts';
import { addSite, BIG_PILOT, expireLeases, pilotToken } from '../scenario.ts';

const CREDENTIALS: PilotCredentials = {
  accessKeyId: 'ASIA-FIRST',
  secretAccessKey: 'secret-1',
  sessionToken: 'token-1',
  expiration: '2026-01-01T01:00:00.000Z',
};

const HEALTHY: HealthCheck[] = [
  { name: 'disk', ok: true, value: '120 GB free' },
  { name: 'cvmfs', ok: true },
];

function registration(health?: HealthCheck[], siteId = 'cern'): PilotRegistration {
  return {
    siteId,
    host: 'wn001.example.org',
    pid: 4242,
    version: '1.0.0',
    resources: BIG_PILOT,
    ...(health === undefined ? {} : { health }),
  };
}

/** `vends: false`: a deployment where pilots bring their own credentials. */
async function setup({ vends = true } = {}): Promise<InMemoryDeps> {
  const deps = inMemoryDeps();
  deps.credentials.credentials = vends ? CREDENTIALS : undefined;
  await addSite(deps);
  await addSite(deps, { siteId: 'closed', status: 'offline' });
  return deps;
}

describe('registerPilot', () => {
  it('accepts a pilot whose checks passed and tells it where to work, heartbeat and renew its lease', async () => {
    const deps = await setup();
    const queueUrl = await deps.queue.queueUrl('cern');
    expect(await registerPilot(deps, pilotToken('cern'), registration(HEALTHY))).toEqual({
      pilotId: 'p-000001',
      siteId: 'cern',
      accepted: true,
      queueUrl,
      // BIG_PILOT: 8 cores, 32 GB — every class but GPU, the largest first.
      queues: [
        { resourceClass: 'himem', queueUrl: await deps.queue.queueUrl('cern', 'himem') },
        { resourceClass: 'mcore', queueUrl: await deps.queue.queueUrl('cern', 'mcore') },
        { resourceClass: 'score', queueUrl },
      ],
      bucket: deps.objects.bucket,
      leaseTable: deps.leases.tableName,
      heartbeatSec: deps.settings.heartbeatSec,
      leaseSec: deps.settings.leaseSec,
      serverTime: DEFAULT_START,
      credentials: CREDENTIALS,
    });
    expect(deps.credentials.requests).toEqual([
      {
        pilotId: 'p-000001',
        siteId: 'cern',
        queueUrl,
        bucket: deps.objects.bucket,
        leaseTable: deps.leases.tableName,
      },
    ]);
  });

  it('records the pilot in the registry and gives it a lease of its own, starting', async () => {
    const deps = await setup();
    const { pilotId } = await registerPilot(deps, pilotToken('cern'), registration(HEALTHY));
    expect(await deps.pilots.get(pilotId)).toEqual({
      ...registration(HEALTHY),
      pilotId,
      state: 'starting',
      registeredAt: DEFAULT_START,
    });
    expect(await deps.leases.get(pilotId)).toEqual({
      pilotId,
      siteId: 'cern',
      host: 'wn001.example.org',
      state: 'starting',
      expiresAt: Date.parse(DEFAULT_START) + deps.settings.leaseSec * 1000,
      jobs: [],
      kill: [],
      jobsRun: 0,
      beatAt: DEFAULT_START,
      classes: ['himem', 'mcore', 'score'],
    });
  });

  it('accepts a pilot that reports no checks', async () => {
    const deps = await setup();
    const response = await registerPilot(deps, pilotToken('cern'), registration());
    expect(response.accepted).toBe(true);
    expect(await deps.leases.get(response.pilotId)).toBeDefined();
  });

  it('records a pilot with a failed check as unhealthy, refuses it naming the checks, with no lease and no credentials', async () => {
    const deps = await setup();
    const health: HealthCheck[] = [
      { name: 'disk', ok: true },
      { name: 'cvmfs', ok: false, message: '/cvmfs/atlas.cern.ch not mounted' },
      { name: 'clock', ok: false },
    ];
    const response = await registerPilot(deps, pilotToken('cern'), registration(health));
    expect(response).toMatchObject({
      accepted: false,
      reason: 'node checks failed: cvmfs (/cvmfs/atlas.cern.ch not mounted), clock',
    });
    expect(response).not.toHaveProperty('credentials');
    expect(deps.credentials.requests).toEqual([]);
    expect(await deps.pilots.get(response.pilotId)).toMatchObject({
      state: 'unhealthy',
      endedAt: DEFAULT_START,
      health,
    });
    expect(await deps.leases.get(response.pilotId)).toBeUndefined();
  });

  it('answers without credentials where the deployment vends none', async () => {
    const deps = await setup({ vends: false });
    const response = await registerPilot(deps, pilotToken('cern'), registration(HEALTHY));
    expect(response.accepted).toBe(true);
    expect(response).not.toHaveProperty('credentials');
  });

  it('lets a token for any site register a pilot at any site', async () => {
    const deps = await setup();
    expect((await registerPilot(deps, pilotToken('*'), registration(HEALTHY))).siteId).toBe('cern');
  });

  it.each([
    ['an unknown site', 'nowhere', 'nowhere', NotFoundError],
    ['an offline site', 'closed', 'closed', ConflictError],
    ["a token of another site's pilots", 'other', 'cern', ForbiddenError],
  ] as const)('refuses %s, storing nothing', async (_what, tokenSite, siteId, error) => {
    const deps = await setup();
    await expect(
      registerPilot(deps, pilotToken(tokenSite), registration(HEALTHY, siteId)),
    ).rejects.toBeInstanceOf(error);
    expect((await deps.pilots.list({ limit: 10 })).items).toEqual([]);
    expect((await deps.leases.scan()).leases).toEqual([]);
    expect(deps.credentials.requests).toEqual([]);
  });
});

describe('registerPilot with a registration key (a retry whose answer was lost)', () => {
  const KEY = '0b6f3c1e-5a2d-4e8f-9c71-2d4a6b8e0f13';
  const FRESH: PilotCredentials = { ...CREDENTIALS, accessKeyId: 'ASIA-FRESH', sessionToken: 'token-2' };

  it('registers one pilot for two tries with the same key: the same answer, one lease, fresh credentials', async () => {
    const deps = await setup();
    const first = await registerPilot(deps, pilotToken('cern'), {
      ...registration(HEALTHY),
      registrationKey: KEY,
    });
    const lease = await deps.leases.get(first.pilotId);
    deps.clock.advance(5000);
    deps.credentials.credentials = FRESH;

    const again = await registerPilot(deps, pilotToken('cern'), {
      ...registration(HEALTHY),
      registrationKey: KEY,
    });

    expect(again).toEqual({ ...first, serverTime: deps.clock.now().toISOString(), credentials: FRESH });
    expect((await deps.pilots.list({ limit: 10 })).items).toEqual([
      { ...registration(HEALTHY), pilotId: first.pilotId, state: 'starting', registeredAt: DEFAULT_START },
    ]);
    expect((await deps.leases.scan()).leases).toEqual([lease]);
    expect(deps.credentials.requests.map((r) => r.pilotId)).toEqual([first.pilotId, first.pilotId]);
  });

  it('gives registrations with other keys, or none, pilots of their own', async () => {
    const deps = await setup();
    const other = '7d1e9a40-3b5c-4f62-8e0a-1c2b3d4e5f60';
    const ids = new Set<string>();
    for (const key of [KEY, other, undefined, undefined]) {
      const request = { ...registration(HEALTHY), ...(key === undefined ? {} : { registrationKey: key }) };
      ids.add((await registerPilot(deps, pilotToken('cern'), request)).pilotId);
    }
    expect(ids.size).toBe(4);
    expect((await deps.leases.scan()).leases).toHaveLength(4);
  });

  it('answers a retried unhealthy registration as the first: refused, with no lease and no credentials', async () => {
    const deps = await setup();
    const request = { ...registration([{ name: 'disk', ok: false }]), registrationKey: KEY };
    const first = await registerPilot(deps, pilotToken('cern'), request);

    expect(await registerPilot(deps, pilotToken('cern'), request)).toEqual(first);
    expect(first).toMatchObject({ accepted: false, reason: 'node checks failed: disk' });
    expect((await deps.pilots.list({ limit: 10 })).items).toHaveLength(1);
    expect((await deps.leases.scan()).leases).toEqual([]);
    expect(deps.credentials.requests).toEqual([]);
  });

  it('counts an unhealthy pilot against its site once, whatever the retries; a healthy one not at all', async () => {
    const deps = await setup();
    const request = { ...registration([{ name: 'disk', ok: false }]), registrationKey: KEY };
    await registerPilot(deps, pilotToken('cern'), request);
    await registerPilot(deps, pilotToken('cern'), request);
    await registerPilot(deps, pilotToken('cern'), registration(HEALTHY));
    expect((await deps.sites.outcomes('cern')).buckets).toEqual({ [DEFAULT_START]: { nodeChecks: 1 } });
  });

  it('counts an unhealthy pilot whose first try stopped before counting it, at its retry', async () => {
    const deps = await setup();
    const pilotId = deps.ids.pilotId(KEY);
    const health = [{ name: 'disk', ok: false }];
    await deps.pilots.register({
      ...registration(health),
      pilotId,
      state: 'unhealthy',
      registeredAt: DEFAULT_START,
      endedAt: DEFAULT_START,
    });
    await registerPilot(deps, pilotToken('cern'), { ...registration(health), registrationKey: KEY });
    expect((await deps.sites.outcomes('cern')).buckets).toEqual({ [DEFAULT_START]: { nodeChecks: 1 } });
  });

  it('gives its lease to a pilot whose first try stopped after the registry was written', async () => {
    const deps = await setup();
    const pilotId = deps.ids.pilotId(KEY);
    await deps.pilots.register({
      ...registration(HEALTHY),
      pilotId,
      state: 'starting',
      registeredAt: DEFAULT_START,
    });
    deps.clock.advance(5000);

    const answer = await registerPilot(deps, pilotToken('cern'), {
      ...registration(HEALTHY),
      registrationKey: KEY,
    });

    expect(answer).toMatchObject({ pilotId, accepted: true });
    expect(await deps.leases.get(pilotId)).toMatchObject({
      state: 'starting',
      expiresAt: deps.clock.now().getTime() + deps.settings.leaseSec * 1000,
    });
  });

  it('refuses a key sent with another registration (another host or pid) with a ConflictError', async () => {
    const deps = await setup();
    const first = await registerPilot(deps, pilotToken('cern'), {
      ...registration(HEALTHY),
      registrationKey: KEY,
    });
    for (const changed of [{ host: 'wn999.example.org' }, { pid: 99 }]) {
      await expect(
        registerPilot(deps, pilotToken('cern'), {
          ...registration(HEALTHY),
          ...changed,
          registrationKey: KEY,
        }),
      ).rejects.toBeInstanceOf(ConflictError);
    }
    expect((await deps.pilots.list({ limit: 10 })).items.map((p) => p.pilotId)).toEqual([first.pilotId]);
  });

  it('throws PilotGoneError to a retry that comes after its pilot was lost, vending nothing', async () => {
    const deps = await setup();
    const request = { ...registration(HEALTHY), registrationKey: KEY };
    await registerPilot(deps, pilotToken('cern'), request);
    expireLeases(deps);
    await reapPilots(deps);
    const vended = deps.credentials.requests.length;

    await expect(registerPilot(deps, pilotToken('cern'), request)).rejects.toBeInstanceOf(PilotGoneError);
    expect(deps.credentials.requests).toHaveLength(vended);
    expect((await deps.leases.scan()).leases).toEqual([]);
  });
});

describe('renewPilotCredentials', () => {
  const FRESH: PilotCredentials = { ...CREDENTIALS, accessKeyId: 'ASIA-FRESH', sessionToken: 'token-2' };

  async function livePilot(deps: InMemoryDeps): Promise<string> {
    return (await registerPilot(deps, pilotToken('cern'), registration(HEALTHY))).pilotId;
  }

  it.each(['starting', 'idle', 'busy', 'draining'] as const)(
    'vends fresh credentials for its site to a %s pilot',
    async (state) => {
      const deps = await setup();
      const pilotId = await livePilot(deps);
      if (state !== 'starting') {
        await pilotHeartbeat({ leases: deps.leases, clock: deps.clock, leaseSec: 120 }, pilotId, {
          state,
          held: [],
          jobsRun: 0,
        });
      }
      deps.credentials.credentials = FRESH;
      expect(await renewPilotCredentials(deps, pilotToken('cern'), pilotId)).toEqual(FRESH);
      expect(deps.credentials.requests.at(-1)).toEqual({
        pilotId,
        siteId: 'cern',
        queueUrl: await deps.queue.queueUrl('cern'),
        bucket: deps.objects.bucket,
        leaseTable: deps.leases.tableName,
      });
    },
  );

  it('throws PilotGoneError for a pilot the reaper declared lost, and vends nothing', async () => {
    const deps = await setup();
    const pilotId = await livePilot(deps);
    expireLeases(deps);
    await reapPilots(deps);
    const vended = deps.credentials.requests.length;
    await expect(renewPilotCredentials(deps, pilotToken('cern'), pilotId)).rejects.toBeInstanceOf(
      PilotGoneError,
    );
    expect(deps.credentials.requests).toHaveLength(vended);
  });

  it('throws PilotGoneError naming the state of a pilot that exited', async () => {
    const deps = await setup();
    const pilotId = await livePilot(deps);
    await pilotHeartbeat({ leases: deps.leases, clock: deps.clock, leaseSec: 120 }, pilotId, {
      state: 'exited',
      held: [],
      jobsRun: 0,
    });
    await expect(renewPilotCredentials(deps, pilotToken('cern'), pilotId)).rejects.toThrow(
      `pilot ${pilotId} is exited`,
    );
  });

  it('throws PilotGoneError for a pilot registered unhealthy and for an unknown one', async () => {
    const deps = await setup();
    const { pilotId } = await registerPilot(
      deps,
      pilotToken('cern'),
      registration([{ name: 'disk', ok: false }]),
    );
    await expect(renewPilotCredentials(deps, pilotToken('cern'), pilotId)).rejects.toBeInstanceOf(
      PilotGoneError,
    );
    await expect(renewPilotCredentials(deps, pilotToken('cern'), 'p-999999')).rejects.toBeInstanceOf(
      PilotGoneError,
    );
    expect(deps.credentials.requests).toEqual([]);
  });

  it("throws ForbiddenError for a token of another site's pilots", async () => {
    const deps = await setup();
    const pilotId = await livePilot(deps);
    await expect(renewPilotCredentials(deps, pilotToken('other'), pilotId)).rejects.toBeInstanceOf(
      ForbiddenError,
    );
    expect(deps.credentials.requests).toHaveLength(1);
  });

  it('throws NotFoundError, saying so, where the deployment vends no credentials', async () => {
    const deps = await setup({ vends: false });
    const pilotId = await livePilot(deps);
    await expect(renewPilotCredentials(deps, pilotToken('cern'), pilotId)).rejects.toThrow(
      new NotFoundError('this deployment vends no credentials; pilots use their own'),
    );
  });
});

describe('registerPilot on a cloud site', () => {
  it('records where a cloud pilot runs and its part of the instance price', async () => {
    const deps = inMemoryDeps();
    await addSite(deps, {
      siteId: 'aws',
      kind: 'cloud',
      slot: { cores: 2, memoryMB: 4000 },
      provisioning: {
        type: 'ec2',
        instanceTypes: [{ type: 'c6i.2xlarge' }],
        subnets: ['subnet-0123abcd'],
        maxInstances: 2,
        maxHourlyUsd: 1,
      },
    });
    const cloud = {
      provider: 'ec2' as const,
      instanceId: 'i-0123456789abcdef0',
      instanceType: 'c6i.2xlarge',
      market: 'on-demand' as const,
      availabilityZone: 'us-east-1a',
      pilotsOnInstance: 4,
    };
    const { pilotId } = await registerPilot(deps, pilotToken('aws'), {
      ...registration(HEALTHY, 'aws'),
      cloud,
    });
    expect(await deps.pilots.get(pilotId)).toMatchObject({
      cloud,
      cost: { hourlyUsd: 0.085, instanceHourlyUsd: 0.34, source: 'table', asOf: PRICE_TABLE_DATE },
    });
  });

  it('prices no pilot of a site without provisioning', async () => {
    const deps = await setup();
    const cloud = {
      provider: 'ec2' as const,
      instanceType: 'm5.large',
      market: 'spot' as const,
      pilotsOnInstance: 1,
    };
    const { pilotId } = await registerPilot(deps, pilotToken('cern'), { ...registration(HEALTHY), cloud });
    const pilot = await deps.pilots.get(pilotId);
    expect(pilot?.cloud).toEqual(cloud);
    expect(pilot?.cost).toBeUndefined();
  });
});
