import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorBody, PilotCredentials, RegisterPilotResponse } from '#core/api/contract.ts';
import type { HealthCheck } from '#core/pilots/pilot.ts';
import type { CredentialVendor } from '#core/ports.ts';
import { createHandler } from '#lambdas/pilots/register-pilot/handler.ts';
import {
  createHandlerHarness,
  type HandlerHarness,
  httpEvent,
  invokeHttp,
  issueFields,
  TEST_SITE,
} from '#test/support/handler-harness.ts';
import { FixedCredentialVendor } from '#test/support/in-memory-ports.ts';
import { PILOT_RESOURCES, PILOT_SCOPES, PILOT_SUB } from '../task-flow.ts';

let h: HandlerHarness;

beforeAll(async () => {
  h = await createHandlerHarness({ settings: { leaseSec: 120, heartbeatSec: 20 } });
  await h.addSite({ siteId: 'closed-site', status: 'offline' });
});

afterAll(async () => {
  await h?.close();
});

function register(body: unknown, sub: string | null = PILOT_SUB, credentials?: CredentialVendor) {
  return invokeHttp<RegisterPilotResponse & ErrorBody>(
    createHandler(credentials === undefined ? h.deps : { ...h.deps, credentials }),
    httpEvent({ method: 'POST', path: '/pilots', body, sub, scopes: PILOT_SCOPES }),
  );
}

const registration = {
  siteId: TEST_SITE,
  host: 'wn042.cluster.test',
  pid: 31337,
  version: '1.2.3',
  resources: PILOT_RESOURCES,
  batchId: 'slurm-998877',
};

const CREDENTIALS: PilotCredentials = {
  accessKeyId: 'ASIATESTPILOT',
  secretAccessKey: 'pilot-secret',
  sessionToken: 'pilot-session',
  expiration: '2026-11-25T12:00:00.000Z',
};

const CHECKS_OK: HealthCheck[] = [
  { name: 'disk', ok: true, value: '84.0 GB free' },
  { name: 'cvmfs', ok: true, value: '/cvmfs/atlas.cern.ch' },
  { name: 'clock', ok: true, value: 'skew 0.2 s' },
];

describe('register-pilot handler', () => {
  it('answers 201 with what the pilot needs, and stores the pilot as starting', async () => {
    const reply = await register(registration);

    expect(reply.statusCode).toBe(201);
    expect(reply.body).toEqual({
      pilotId: expect.stringMatching(/^p-[0-9a-z]+$/),
      siteId: TEST_SITE,
      accepted: true,
      queueUrl: await h.deps.queue.queueUrl(TEST_SITE),
      bucket: h.bucket,
      heartbeatSec: 20,
      leaseSec: 120,
      serverTime: h.clock.now().toISOString(),
    });
    expect(await h.deps.pilots.get(reply.body.pilotId)).toEqual({
      ...registration,
      pilotId: reply.body.pilotId,
      state: 'starting',
      registeredAt: h.clock.now().toISOString(),
      lastHeartbeatAt: h.clock.now().toISOString(),
      jobsRun: 0,
    });
  });

  it('accepts a pilot whose node checks all passed, stores them, and hands it credentials for its site', async () => {
    const vendor = new FixedCredentialVendor(CREDENTIALS);
    const body = { ...registration, health: CHECKS_OK };
    const reply = await register(body, PILOT_SUB, vendor);

    expect(reply.statusCode).toBe(201);
    expect(reply.body).toMatchObject({ siteId: TEST_SITE, accepted: true, credentials: CREDENTIALS });
    expect(reply.body.reason).toBeUndefined();
    expect(vendor.requests).toEqual([
      {
        pilotId: reply.body.pilotId,
        siteId: TEST_SITE,
        queueUrl: await h.deps.queue.queueUrl(TEST_SITE),
        bucket: h.bucket,
      },
    ]);
    expect(await h.deps.pilots.get(reply.body.pilotId)).toMatchObject({
      state: 'starting',
      health: CHECKS_OK,
    });
  });

  it('records a pilot with a failed check as unhealthy and answers accepted false, naming the check, with no credentials', async () => {
    const vendor = new FixedCredentialVendor(CREDENTIALS);
    const health: HealthCheck[] = [
      { name: 'disk', ok: false, value: '0.4 GB free', message: 'needs 10 GB' },
      { name: 'cvmfs', ok: true },
    ];
    const reply = await register({ ...registration, health }, PILOT_SUB, vendor);

    expect(reply.statusCode).toBe(201);
    expect(reply.body.accepted).toBe(false);
    expect(reply.body.reason).toMatch(/disk/);
    expect(reply.body.reason).toMatch(/needs 10 GB/);
    expect(reply.body.reason).not.toMatch(/cvmfs/);
    expect(reply.body).not.toHaveProperty('credentials');
    expect(vendor.requests).toEqual([]);
    const stored = await h.deps.pilots.get(reply.body.pilotId);
    expect(stored).toMatchObject({ state: 'unhealthy', health });
  });

  it('answers without credentials where the deployment vends none (no GLUON_PILOT_ROLE_ARN)', async () => {
    expect(h.config.GLUON_PILOT_ROLE_ARN).toBeUndefined();
    const reply = await register({ ...registration, health: CHECKS_OK });
    expect(reply.statusCode).toBe(201);
    expect(reply.body.accepted).toBe(true);
    expect(reply.body).not.toHaveProperty('credentials');
  });

  it('gives each registration its own pilot id', async () => {
    const a = await register(registration);
    const b = await register(registration);
    expect(a.body.pilotId).not.toBe(b.body.pilotId);
  });

  it('accepts a site-wide token (pilot:*) for any site', async () => {
    const reply = await register(registration, 'pilot:*');
    expect(reply.statusCode).toBe(201);
  });

  it('answers 404 for a site that does not exist, storing nothing and vending nothing', async () => {
    const vendor = new FixedCredentialVendor(CREDENTIALS);
    const before = await h.scan('pilots');
    const reply = await register({ ...registration, siteId: 'nowhere' }, 'pilot:nowhere', vendor);
    expect(reply.statusCode).toBe(404);
    expect(reply.body.error).toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringContaining('nowhere'),
    });
    expect(await h.scan('pilots')).toHaveLength(before.length);
    expect(vendor.requests).toEqual([]);
  });

  it('answers 403 to a pilot token for another site, storing nothing and vending nothing', async () => {
    const vendor = new FixedCredentialVendor(CREDENTIALS);
    const before = await h.scan('pilots');
    const reply = await register({ ...registration, health: CHECKS_OK }, 'pilot:other', vendor);
    expect(reply.statusCode).toBe(403);
    expect(reply.body.error.code).toBe('FORBIDDEN');
    expect(reply.body).not.toHaveProperty('credentials');
    expect(await h.scan('pilots')).toHaveLength(before.length);
    expect(vendor.requests).toEqual([]);
  });

  it('answers 409 for an offline site', async () => {
    const reply = await register({ ...registration, siteId: 'closed-site' }, 'pilot:closed-site');
    expect(reply.statusCode).toBe(409);
    expect(reply.body.error.code).toBe('CONFLICT');
  });

  it('answers 400 naming every bad field, storing nothing', async () => {
    const before = await h.scan('pilots');
    const reply = await register({
      siteId: 'Not A Site',
      host: '',
      pid: -5,
      resources: { cores: 0, memoryMB: 1000, diskMB: 10, walltimeLeftSec: 60, gpus: -1 },
      health: [{ name: '', ok: 'yes' }],
      extra: true,
    });
    expect(reply.statusCode).toBe(400);
    expect(reply.body.error.code).toBe('INVALID_INPUT');
    expect(issueFields(reply.body)).toEqual([
      'extra',
      'health.0.name',
      'health.0.ok',
      'host',
      'pid',
      'resources.cores',
      'resources.gpus',
      'siteId',
    ]);
    expect(await h.scan('pilots')).toHaveLength(before.length);

    const notJson = await register('{siteId');
    expect(notJson.statusCode).toBe(400);
    expect(issueFields(notJson.body)).toEqual(['body']);
  });

  it('answers 401 to a token without a subject', async () => {
    const reply = await register(registration, null);
    expect(reply.statusCode).toBe(401);
  });
});
