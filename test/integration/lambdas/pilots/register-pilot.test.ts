import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PilotCredentials, PilotView, RegisterPilotResponse } from '#core/api/pilots.ts';
import type { HealthCheck } from '#core/pilots/pilot.ts';
import type { CredentialVendor } from '#core/pilots/ports.ts';
import { PRICE_TABLE_DATE } from '#core/provisioning/prices.ts';
import { createHandler as listHandler } from '#lambdas/pilots/list-pilots/handler.ts';
import { createHandler } from '#lambdas/pilots/register-pilot/handler.ts';
import {
  createHandlerHarness,
  type HandlerHarness,
  httpEvent,
  invokeHttp,
  issueFields,
  RecordingCredentialVendor,
  TEST_SITE,
} from '#test/support/handler-harness.ts';
import { type ErrorReply, PILOT_RESOURCES, PILOT_SCOPES, PILOT_SUB, USER_SCOPES } from '../task-flow.ts';

const LEASE_SEC = 120;
const EC2_SITE = 'aws-it';
const BATCH_SITE = 'aws-batch-it';
let h: HandlerHarness;

beforeAll(async () => {
  h = await createHandlerHarness({ settings: { leaseSec: LEASE_SEC, heartbeatSec: 20 } });
  await h.addSite({ siteId: 'closed-site', status: 'offline' });
  await h.addSite({
    siteId: EC2_SITE,
    kind: 'cloud',
    slot: { cores: 2, memoryMB: 7500 },
    provisioning: {
      type: 'ec2',
      instanceTypes: [{ type: 'm6i.2xlarge' }],
      subnets: ['subnet-0123abcd'],
      maxInstances: 4,
      maxHourlyUsd: 2,
    },
  });
  await h.addSite({
    siteId: BATCH_SITE,
    kind: 'cloud',
    slot: { cores: 1, memoryMB: 2048 },
    provisioning: {
      type: 'batch',
      jobQueue: 'gluon-pilots',
      jobDefinition: 'gluon-pilot',
      hourlyUsdPerPilot: 0.05,
    },
  });
});

afterAll(async () => {
  await h?.close();
});

function register(body: unknown, sub: string | null = PILOT_SUB, credentials?: CredentialVendor) {
  return invokeHttp<RegisterPilotResponse & ErrorReply>(
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
];

describe('register-pilot handler', () => {
  it('answers 200 with what the pilot needs, and stores the pilot and its lease', async () => {
    const now = h.clock.now();
    const reply = await register(registration);

    expect(reply.statusCode).toBe(200);
    const { pilotId } = reply.body;
    expect(reply.body).toEqual({
      pilotId: expect.stringMatching(/^p-[0-9a-z]+$/),
      siteId: TEST_SITE,
      accepted: true,
      queueUrl: await h.deps.queue.queueUrl(TEST_SITE),
      // 4 cores and 8000 MB: the queues of every class but GPU, the largest first.
      queues: [
        { resourceClass: 'himem', queueUrl: await h.deps.queue.queueUrl(TEST_SITE, 'himem') },
        { resourceClass: 'mcore', queueUrl: await h.deps.queue.queueUrl(TEST_SITE, 'mcore') },
        { resourceClass: 'score', queueUrl: await h.deps.queue.queueUrl(TEST_SITE) },
      ],
      bucket: h.bucket,
      leaseTable: h.tables.leases,
      heartbeatSec: 20,
      leaseSec: LEASE_SEC,
      serverTime: now.toISOString(),
    });
    expect(await h.deps.pilots.get(pilotId)).toEqual({
      ...registration,
      pilotId,
      state: 'starting',
      registeredAt: now.toISOString(),
    });
    expect(await h.deps.leases.get(pilotId)).toEqual({
      pilotId,
      siteId: TEST_SITE,
      host: registration.host,
      state: 'starting',
      expiresAt: now.getTime() + LEASE_SEC * 1000,
      jobs: [],
      kill: [],
      jobsRun: 0,
      classes: ['himem', 'mcore', 'score'],
      beatAt: now.toISOString(),
    });
  });

  it('hands a healthy pilot credentials for its site, its queue, the bucket and its own lease', async () => {
    const vendor = new RecordingCredentialVendor(CREDENTIALS);
    const reply = await register({ ...registration, health: CHECKS_OK }, PILOT_SUB, vendor);

    expect(reply.statusCode).toBe(200);
    expect(reply.body).toMatchObject({ accepted: true, credentials: CREDENTIALS });
    expect(reply.body.reason).toBeUndefined();
    expect(vendor.requests).toEqual([
      {
        pilotId: reply.body.pilotId,
        siteId: TEST_SITE,
        queueUrl: await h.deps.queue.queueUrl(TEST_SITE),
        bucket: h.bucket,
        leaseTable: h.tables.leases,
      },
    ]);
    expect(await h.deps.pilots.get(reply.body.pilotId)).toMatchObject({
      state: 'starting',
      health: CHECKS_OK,
    });
  });

  it('records a pilot with a failed check as unhealthy, with no lease and no credentials, naming the check', async () => {
    const vendor = new RecordingCredentialVendor(CREDENTIALS);
    const health: HealthCheck[] = [
      { name: 'disk', ok: false, value: '0.4 GB free', message: 'needs 10 GB' },
      { name: 'cvmfs', ok: true },
    ];
    const reply = await register({ ...registration, health }, PILOT_SUB, vendor);

    expect(reply.statusCode).toBe(200);
    expect(reply.body.accepted).toBe(false);
    expect(reply.body.reason).toBe('node checks failed: disk (needs 10 GB)');
    expect(reply.body).not.toHaveProperty('credentials');
    expect(vendor.requests).toEqual([]);
    expect(await h.deps.pilots.get(reply.body.pilotId)).toMatchObject({
      state: 'unhealthy',
      health,
      endedAt: h.clock.now().toISOString(),
    });
    expect(await h.deps.leases.get(reply.body.pilotId)).toBeUndefined();
  });

  it('answers without credentials where the deployment vends none (no GLUON_PILOT_ROLE_ARN)', async () => {
    expect(h.config.GLUON_PILOT_ROLE_ARN).toBeUndefined();
    const reply = await register({ ...registration, health: CHECKS_OK });
    expect(reply.statusCode).toBe(200);
    expect(reply.body).not.toHaveProperty('credentials');
  });

  it('gives each registration its own pilot id, and takes a token for every site (pilot:*)', async () => {
    const a = await register(registration);
    const b = await register(registration, 'pilot:*');
    expect(b.statusCode).toBe(200);
    expect(a.body.pilotId).not.toBe(b.body.pilotId);
  });

  it('registers one pilot for two tries with the same registration key: the same id, one record, one lease', async () => {
    const vendor = new RecordingCredentialVendor(CREDENTIALS);
    const registrationKey = randomUUID();
    const [pilots, leases] = [await h.scan('pilots'), await h.scan('leases')];
    const first = await register({ ...registration, registrationKey }, PILOT_SUB, vendor);
    const lease = await h.deps.leases.get(first.body.pilotId);
    const now = h.clock.advance(3000);

    const again = await register({ ...registration, registrationKey }, PILOT_SUB, vendor);

    expect(again.statusCode).toBe(200);
    expect(again.body).toEqual({ ...first.body, serverTime: now.toISOString() });
    expect(first.body.pilotId).toMatch(/^p-[0-9a-z]{6,40}$/);
    expect(first.body.pilotId).not.toContain(registrationKey.replaceAll('-', '').slice(0, 8));
    expect(await h.scan('pilots')).toHaveLength(pilots.length + 1);
    expect(await h.scan('leases')).toHaveLength(leases.length + 1);
    expect(await h.deps.leases.get(first.body.pilotId)).toEqual(lease);
    // The key is not kept: operators see no secret of the pilot's.
    expect(await h.deps.pilots.get(first.body.pilotId)).not.toHaveProperty('registrationKey');
    expect(vendor.requests.map((r) => r.pilotId)).toEqual([first.body.pilotId, first.body.pilotId]);

    const other = await register({ ...registration, registrationKey: randomUUID() });
    expect(other.body.pilotId).not.toBe(first.body.pilotId);
  });

  it('answers 409 to a registration key sent with another registration, storing nothing', async () => {
    const registrationKey = randomUUID();
    await register({ ...registration, registrationKey });
    const pilots = await h.scan('pilots');
    const reply = await register({ ...registration, host: 'wn043.cluster.test', registrationKey });
    expect(reply.statusCode).toBe(409);
    expect(reply.body.error.code).toBe('CONFLICT');
    expect(await h.scan('pilots')).toHaveLength(pilots.length);
  });

  it('answers 404 for a site that does not exist, storing and vending nothing', async () => {
    const vendor = new RecordingCredentialVendor(CREDENTIALS);
    const [pilots, leases] = [await h.scan('pilots'), await h.scan('leases')];
    const reply = await register({ ...registration, siteId: 'nowhere' }, 'pilot:nowhere', vendor);
    expect(reply.statusCode).toBe(404);
    expect(reply.body.error).toEqual({ code: 'NOT_FOUND', message: 'site nowhere does not exist' });
    expect(await h.scan('pilots')).toHaveLength(pilots.length);
    expect(await h.scan('leases')).toHaveLength(leases.length);
    expect(vendor.requests).toEqual([]);
  });

  it('answers 403 to a pilot token of another site, storing and vending nothing', async () => {
    const vendor = new RecordingCredentialVendor(CREDENTIALS);
    const pilots = await h.scan('pilots');
    const reply = await register(registration, 'pilot:other', vendor);
    expect(reply.statusCode).toBe(403);
    expect(reply.body.error.code).toBe('FORBIDDEN');
    expect(await h.scan('pilots')).toHaveLength(pilots.length);
    expect(vendor.requests).toEqual([]);
  });

  it('answers 409 for an offline site', async () => {
    const reply = await register({ ...registration, siteId: 'closed-site' }, 'pilot:closed-site');
    expect(reply.statusCode).toBe(409);
    expect(reply.body.error).toEqual({ code: 'CONFLICT', message: 'site closed-site is offline' });
  });

  it('answers 400 naming every bad field, storing nothing', async () => {
    const pilots = await h.scan('pilots');
    const reply = await register({
      siteId: 'Not A Site',
      host: '',
      pid: -5,
      resources: { cores: 0, memoryMB: 0, diskMB: 10, walltimeLeftSec: 60, gpus: -1 },
      health: [{ name: '', ok: 'yes' }],
      registrationKey: 'not-a-uuid',
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
      'registrationKey',
      'resources.cores',
      'resources.gpus',
      'resources.memoryMB',
      'siteId',
    ]);
    expect(await h.scan('pilots')).toHaveLength(pilots.length);

    for (const body of ['{siteId', undefined]) {
      const bad = await register(body);
      expect(bad.statusCode).toBe(400);
      expect(issueFields(bad.body)).toEqual(['body']);
    }
  });

  it('answers 401 to a token without a subject', async () => {
    const reply = await register(registration, null);
    expect(reply.statusCode).toBe(401);
    expect(reply.body.error.code).toBe('UNAUTHORIZED');
  });
});

/** A cloud pilot's registration at a site, with the site's pilot token. */
function registerCloud(siteId: string, cloud: unknown) {
  return register(
    { siteId, host: 'ip-10-0-1-17', pid: 4100, resources: PILOT_RESOURCES, cloud },
    `pilot:${siteId}`,
  );
}

async function listed(pilotId: string): Promise<PilotView | undefined> {
  const reply = await invokeHttp<{ items: PilotView[] }>(
    listHandler(h.deps),
    httpEvent({ method: 'GET', path: '/pilots', query: { limit: '100' }, sub: 'alice', scopes: USER_SCOPES }),
  );
  return reply.body.items.find((pilot) => pilot.pilotId === pilotId);
}

const SPOT_NODE = {
  provider: 'ec2',
  instanceId: 'i-0123456789abcdef0',
  instanceType: 'm6i.2xlarge',
  market: 'spot',
  availabilityZone: 'us-east-1b',
  pilotsOnInstance: 4,
};

describe('register-pilot handler with cloud pilots', () => {
  it('stores an EC2 pilot with its node and its part of the instance price, and GET /pilots shows them', async () => {
    const reply = await registerCloud(EC2_SITE, SPOT_NODE);
    expect(reply.statusCode).toBe(200);
    const cost = { hourlyUsd: 0.0384, instanceHourlyUsd: 0.1536, source: 'table', asOf: PRICE_TABLE_DATE };
    const stored = await h.deps.pilots.get(reply.body.pilotId);
    expect(stored).toMatchObject({ cloud: SPOT_NODE, cost });
    expect(await listed(reply.body.pilotId)).toMatchObject({ cloud: SPOT_NODE, cost, state: 'starting' });
  });

  it('stores an AWS Batch pilot at the site price per pilot', async () => {
    const node = { provider: 'batch', batchJobId: '8c1e2f3a-4b5c-6d7e-8f90-a1b2c3d4e5f6:3' };
    const reply = await registerCloud(BATCH_SITE, node);
    expect(reply.statusCode).toBe(200);
    expect(await h.deps.pilots.get(reply.body.pilotId)).toMatchObject({
      cloud: { ...node, pilotsOnInstance: 1 },
      cost: { hourlyUsd: 0.05, instanceHourlyUsd: 0.05, source: 'site', asOf: h.clock.now().toISOString() },
    });
  });

  it('registers, unpriced, a pilot on an instance type the price table does not know', async () => {
    const reply = await registerCloud(EC2_SITE, { ...SPOT_NODE, instanceType: 'x9.huge' });
    expect(reply.statusCode).toBe(200);
    const stored = await h.deps.pilots.get(reply.body.pilotId);
    expect(stored?.cloud?.instanceType).toBe('x9.huge');
    expect(stored?.cost).toBeUndefined();
  });

  it('answers 400 naming a bad cloud node field, storing no pilot', async () => {
    const before = (await h.deps.pilots.list({ limit: 1000 })).items.length;
    const reply = await registerCloud(EC2_SITE, { ...SPOT_NODE, market: 'reserved', provider: 'gce' });
    expect(reply.statusCode).toBe(400);
    expect(issueFields(reply.body)).toEqual(['cloud.market', 'cloud.provider']);
    expect((await h.deps.pilots.list({ limit: 1000 })).items.length).toBe(before);
  });
});
