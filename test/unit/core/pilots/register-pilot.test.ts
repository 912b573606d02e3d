import { describe, expect, it } from 'vitest';
import type { PilotCredentials } from '#core/api/pilots.ts';
import { ConflictError, ForbiddenError, NotFoundError, PilotGoneError } from '#core/errors.ts';
import type { HealthCheck, PilotRegistration } from '#core/pilots/pilot.ts';
import { pilotHeartbeat } from '#core/pilots/pilot-heartbeat.ts';
import { reapPilots } from '#core/pilots/reap-pilots.ts';
import { registerPilot, renewPilotCredentials } from '#core/pilots/register-pilot.ts';
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
