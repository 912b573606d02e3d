import { describe, expect, it } from 'vitest';
import type { PilotCredentials } from '#core/api/contract.ts';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '#core/errors.ts';
import type { HealthCheck, PilotState } from '#core/pilots/pilot.ts';
import { registerPilot, renewPilotCredentials } from '#core/pilots/register-pilot.ts';
import { DEFAULT_START, type InMemoryDeps, inMemoryDeps } from '#test/support/in-memory-ports.ts';
import { addSite, BIG_PILOT, pilotToken } from '../scenario.ts';

const CREDENTIALS: PilotCredentials = {
  accessKeyId: 'ASIA-FIRST',
  secretAccessKey: 'secret-1',
  sessionToken: 'token-1',
  expiration: '2026-01-01T01:00:00.000Z',
};

const HEALTHY: HealthCheck[] = [
  { name: 'disk', ok: true, value: '120 GB free' },
  { name: 'cvmfs', ok: true },
  { name: 'clock', ok: true, value: 'skew 0.1 s' },
];

function registration(health?: HealthCheck[], siteId = 'cern') {
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
  it('accepts a pilot whose checks all passed: starting, with credentials for its site', async () => {
    const deps = await setup();
    const response = await registerPilot(deps, pilotToken('cern'), registration(HEALTHY));

    expect(response).toEqual({
      pilotId: 'p-000001',
      siteId: 'cern',
      accepted: true,
      queueUrl: await deps.queue.queueUrl('cern'),
      bucket: deps.objects.bucket,
      heartbeatSec: deps.settings.heartbeatSec,
      leaseSec: deps.settings.leaseSec,
      serverTime: DEFAULT_START,
      credentials: CREDENTIALS,
    });
    expect(response.reason).toBeUndefined();
    expect(deps.credentials.requests).toEqual([
      {
        pilotId: 'p-000001',
        siteId: 'cern',
        queueUrl: await deps.queue.queueUrl('cern'),
        bucket: deps.objects.bucket,
      },
    ]);
    expect(await deps.pilots.get('p-000001')).toMatchObject({ state: 'starting', health: HEALTHY });
  });

  it('accepts a pilot that reports no checks', async () => {
    const deps = await setup();
    const response = await registerPilot(deps, pilotToken('cern'), registration());
    expect(response.accepted).toBe(true);
    expect(response.credentials).toEqual(CREDENTIALS);
    expect((await deps.pilots.get(response.pilotId))?.state).toBe('starting');
  });

  it('records a pilot with a failed check as unhealthy, refuses it naming the check, and vends nothing', async () => {
    const deps = await setup();
    const health: HealthCheck[] = [
      HEALTHY[0] as HealthCheck,
      { name: 'cvmfs', ok: false, message: '/cvmfs/atlas.cern.ch not mounted' },
      { name: 'clock', ok: false },
    ];
    const response = await registerPilot(deps, pilotToken('cern'), registration(health));

    expect(response.accepted).toBe(false);
    expect(response.reason).toBe('node checks failed: cvmfs (/cvmfs/atlas.cern.ch not mounted), clock');
    expect(response.reason).not.toContain('disk');
    expect(response).not.toHaveProperty('credentials');
    expect(deps.credentials.requests).toEqual([]);
    const stored = await deps.pilots.get(response.pilotId);
    expect(stored).toMatchObject({ state: 'unhealthy', health });
    expect(await deps.pilots.countBySite('cern')).toEqual({ starting: 0, idle: 0, busy: 0, draining: 0 });
  });

  it('answers without credentials where the deployment vends none', async () => {
    const deps = await setup({ vends: false });
    const response = await registerPilot(deps, pilotToken('cern'), registration(HEALTHY));
    expect(response.accepted).toBe(true);
    expect(response).not.toHaveProperty('credentials');
    expect(deps.credentials.requests).toHaveLength(1);
  });

  it('refuses an unknown site, an offline site and a token of another site, storing nothing', async () => {
    const deps = await setup();
    await expect(
      registerPilot(deps, pilotToken('nowhere'), registration(HEALTHY, 'nowhere')),
    ).rejects.toBeInstanceOf(NotFoundError);
    await expect(
      registerPilot(deps, pilotToken('closed'), registration(HEALTHY, 'closed')),
    ).rejects.toBeInstanceOf(ConflictError);
    await expect(registerPilot(deps, pilotToken('other'), registration(HEALTHY))).rejects.toBeInstanceOf(
      ForbiddenError,
    );
    expect((await deps.pilots.list({ limit: 10 })).items).toEqual([]);
    expect(deps.credentials.requests).toEqual([]);
  });

  it('refuses a malformed check, naming the field', async () => {
    const deps = await setup();
    const error = await registerPilot(
      deps,
      pilotToken('cern'),
      registration([{ name: '', ok: 'yes' } as unknown as HealthCheck]),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues.map((i) => i.field).sort()).toEqual([
      'health.0.name',
      'health.0.ok',
    ]);
  });
});

describe('renewPilotCredentials', () => {
  async function pilotIn(deps: InMemoryDeps, state: PilotState): Promise<string> {
    const { pilotId } = await registerPilot(deps, pilotToken('cern'), registration(HEALTHY));
    if (state !== 'starting') {
      await deps.pilots.heartbeat(pilotId, { state, at: deps.clock.now().toISOString() });
    }
    return pilotId;
  }

  const FRESH: PilotCredentials = { ...CREDENTIALS, accessKeyId: 'ASIA-FRESH', sessionToken: 'token-2' };

  for (const state of ['starting', 'idle', 'busy', 'draining'] as const) {
    it(`vends fresh credentials for its site to a ${state} pilot`, async () => {
      const deps = await setup();
      const pilotId = await pilotIn(deps, state);
      deps.credentials.credentials = FRESH;

      expect(await renewPilotCredentials(deps, pilotToken('cern'), pilotId)).toEqual(FRESH);
      expect(deps.credentials.requests.at(-1)).toEqual({
        pilotId,
        siteId: 'cern',
        queueUrl: await deps.queue.queueUrl('cern'),
        bucket: deps.objects.bucket,
      });
    });
  }

  for (const state of ['unhealthy', 'exited', 'lost'] as const) {
    it(`refuses a ${state} pilot (409) and vends nothing`, async () => {
      const deps = await setup();
      const pilotId = await pilotIn(deps, state);
      const vended = deps.credentials.requests.length;

      const error = await renewPilotCredentials(deps, pilotToken('cern'), pilotId).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConflictError);
      expect((error as Error).message).toContain(state);
      expect(deps.credentials.requests).toHaveLength(vended);
    });
  }

  it('refuses a pilot registered unhealthy', async () => {
    const deps = await setup();
    const { pilotId } = await registerPilot(
      deps,
      pilotToken('cern'),
      registration([{ name: 'disk', ok: false, message: '0.2 GB free' }]),
    );
    await expect(renewPilotCredentials(deps, pilotToken('cern'), pilotId)).rejects.toBeInstanceOf(
      ConflictError,
    );
    expect(deps.credentials.requests).toEqual([]);
  });

  it('answers not found, saying so, where the deployment vends no credentials', async () => {
    const deps = await setup({ vends: false });
    const pilotId = await pilotIn(deps, 'idle');
    const error = await renewPilotCredentials(deps, pilotToken('cern'), pilotId).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as Error).message).toMatch(/vends no credentials/);
  });

  it('refuses an unknown pilot and a token of another site', async () => {
    const deps = await setup();
    const pilotId = await pilotIn(deps, 'idle');
    const vended = deps.credentials.requests.length;
    await expect(renewPilotCredentials(deps, pilotToken('cern'), 'p-999999')).rejects.toBeInstanceOf(
      NotFoundError,
    );
    await expect(renewPilotCredentials(deps, pilotToken('other'), pilotId)).rejects.toBeInstanceOf(
      ForbiddenError,
    );
    expect(deps.credentials.requests).toHaveLength(vended);
  });
});
