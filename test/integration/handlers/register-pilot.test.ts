import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorBody, RegisterPilotResponse } from '#core/api.ts';
import { createHandler } from '#lambdas/register-pilot/handler.ts';
import {
  createHandlerHarness,
  type HandlerHarness,
  httpEvent,
  invokeHttp,
  issueFields,
  TEST_SITE,
} from '#test/support/handler-harness.ts';
import { PILOT_RESOURCES, PILOT_SCOPES, PILOT_SUB } from './task-flow.ts';

let h: HandlerHarness;

beforeAll(async () => {
  h = await createHandlerHarness({ settings: { leaseSec: 120, heartbeatSec: 20 } });
  await h.addSite({ siteId: 'closed-site', status: 'offline' });
});

afterAll(async () => {
  await h?.close();
});

function register(body: unknown, sub: string | null = PILOT_SUB) {
  return invokeHttp<RegisterPilotResponse & ErrorBody>(
    createHandler(h.deps),
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

describe('register-pilot handler', () => {
  it('answers 201 with what the pilot needs, and stores the pilot as starting', async () => {
    const reply = await register(registration);

    expect(reply.statusCode).toBe(201);
    expect(reply.body).toEqual({
      pilotId: expect.stringMatching(/^p-[0-9a-z]+$/),
      siteId: TEST_SITE,
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

  it('gives each registration its own pilot id', async () => {
    const a = await register(registration);
    const b = await register(registration);
    expect(a.body.pilotId).not.toBe(b.body.pilotId);
  });

  it('accepts a site-wide token (pilot:*) for any site', async () => {
    const reply = await register(registration, 'pilot:*');
    expect(reply.statusCode).toBe(201);
  });

  it('answers 404 for a site that does not exist, storing nothing', async () => {
    const before = await h.scan('pilots');
    const reply = await register({ ...registration, siteId: 'nowhere' }, 'pilot:nowhere');
    expect(reply.statusCode).toBe(404);
    expect(reply.body.error).toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringContaining('nowhere'),
    });
    expect(await h.scan('pilots')).toHaveLength(before.length);
  });

  it('answers 403 to a pilot token for another site, storing nothing', async () => {
    const before = await h.scan('pilots');
    const reply = await register(registration, 'pilot:other');
    expect(reply.statusCode).toBe(403);
    expect(reply.body.error.code).toBe('FORBIDDEN');
    expect(await h.scan('pilots')).toHaveLength(before.length);
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
      resources: { cores: 0, memoryMB: 1000, diskMB: 10, walltimeLeftSec: 60, gpus: 1 },
      extra: true,
    });
    expect(reply.statusCode).toBe(400);
    expect(reply.body.error.code).toBe('INVALID_INPUT');
    expect(issueFields(reply.body)).toEqual([
      'extra',
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
