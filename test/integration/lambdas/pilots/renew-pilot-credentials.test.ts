import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorBody, PilotCredentials, RegisterPilotResponse } from '#core/api/contract.ts';
import { TransientError } from '#core/errors.ts';
import type { HealthCheck, PilotState } from '#core/pilots/pilot.ts';
import type { CredentialVendor } from '#core/ports.ts';
import { createHandler as registerPilotHandler } from '#lambdas/pilots/register-pilot/handler.ts';
import { createHandler } from '#lambdas/pilots/renew-pilot-credentials/handler.ts';
import {
  createHandlerHarness,
  type HandlerHarness,
  httpEvent,
  invokeHttp,
  issueFields,
  TEST_SITE,
} from '#test/support/handler-harness.ts';
import { FixedCredentialVendor } from '#test/support/in-memory-ports.ts';
import { heartbeat, PILOT_RESOURCES, PILOT_SCOPES, PILOT_SUB } from '../task-flow.ts';

const FIRST: PilotCredentials = {
  accessKeyId: 'ASIAFIRST',
  secretAccessKey: 'first-secret',
  sessionToken: 'first-session',
  expiration: '2026-11-25T11:00:00.000Z',
};
const FRESH: PilotCredentials = {
  accessKeyId: 'ASIAFRESH',
  secretAccessKey: 'fresh-secret',
  sessionToken: 'fresh-session',
  expiration: '2026-11-25T12:00:00.000Z',
};

let h: HandlerHarness;

beforeAll(async () => {
  h = await createHandlerHarness();
});

afterAll(async () => {
  await h?.close();
});

/** Registers a pilot (healthy unless checks are given) with a vendor of FIRST; the reply body. */
async function registered(health?: HealthCheck[]): Promise<RegisterPilotResponse> {
  const reply = await invokeHttp<RegisterPilotResponse>(
    registerPilotHandler({ ...h.deps, credentials: new FixedCredentialVendor(FIRST) }),
    httpEvent({
      method: 'POST',
      path: '/pilots',
      body: {
        siteId: TEST_SITE,
        host: 'wn07.test',
        pid: 777,
        resources: PILOT_RESOURCES,
        ...(health === undefined ? {} : { health }),
      },
      sub: PILOT_SUB,
      scopes: PILOT_SCOPES,
    }),
  );
  expect(reply.statusCode).toBe(201);
  return reply.body;
}

/** A registered pilot moved to `state` by its own heartbeat; its id. */
async function pilotIn(state: PilotState): Promise<string> {
  const { pilotId, credentials } = await registered();
  expect(credentials).toEqual(FIRST);
  if (state !== 'starting') expect((await heartbeat(h, pilotId, { state, jobs: [] })).statusCode).toBe(200);
  return pilotId;
}

function renew(pilotId: string, credentials: CredentialVendor | undefined, sub: string = PILOT_SUB) {
  return invokeHttp<PilotCredentials & ErrorBody>(
    createHandler(credentials === undefined ? h.deps : { ...h.deps, credentials }),
    httpEvent({
      method: 'POST',
      path: '/pilots/{pilotId}/credentials',
      pathParameters: { pilotId },
      body: {},
      sub,
      scopes: PILOT_SCOPES,
    }),
  );
}

describe('renew-pilot-credentials handler', () => {
  for (const state of ['starting', 'idle', 'busy', 'draining'] as const) {
    it(`answers 200 with fresh credentials for its site to a ${state} pilot`, async () => {
      const pilotId = await pilotIn(state);
      const vendor = new FixedCredentialVendor(FRESH);

      const reply = await renew(pilotId, vendor);

      expect(reply.statusCode).toBe(200);
      expect(reply.body).toEqual(FRESH);
      expect(vendor.requests).toEqual([
        {
          pilotId,
          siteId: TEST_SITE,
          queueUrl: await h.deps.queue.queueUrl(TEST_SITE),
          bucket: h.bucket,
        },
      ]);
    });
  }

  it('answers 409 to a pilot that registered unhealthy, vending nothing', async () => {
    const { pilotId, accepted, credentials } = await registered([
      { name: 'memory', ok: false, message: 'ECC errors' },
    ]);
    expect(accepted).toBe(false);
    expect(credentials).toBeUndefined();
    const vendor = new FixedCredentialVendor(FRESH);

    const reply = await renew(pilotId, vendor);

    expect(reply.statusCode).toBe(409);
    expect(reply.body.error).toMatchObject({
      code: 'CONFLICT',
      message: expect.stringContaining('unhealthy'),
    });
    expect(reply.body).not.toHaveProperty('accessKeyId');
    expect(vendor.requests).toEqual([]);
  });

  for (const state of ['exited', 'lost'] as const) {
    it(`answers 409 to an ${state} pilot, vending nothing`, async () => {
      const pilotId = await pilotIn(state);
      const vendor = new FixedCredentialVendor(FRESH);
      const reply = await renew(pilotId, vendor);
      expect(reply.statusCode).toBe(409);
      expect(reply.body.error.message).toContain(state);
      expect(vendor.requests).toEqual([]);
    });
  }

  it('answers 404, saying why, where the deployment vends no credentials (production wiring without GLUON_PILOT_ROLE_ARN)', async () => {
    expect(h.config.GLUON_PILOT_ROLE_ARN).toBeUndefined();
    const pilotId = await pilotIn('idle');
    const reply = await renew(pilotId, undefined);
    expect(reply.statusCode).toBe(404);
    expect(reply.body.error).toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringMatching(/vends no credentials.*own/),
    });
  });

  it('answers 403 to a pilot token of another site, vending nothing', async () => {
    const pilotId = await pilotIn('idle');
    const vendor = new FixedCredentialVendor(FRESH);
    const reply = await renew(pilotId, vendor, 'pilot:elsewhere');
    expect(reply.statusCode).toBe(403);
    expect(reply.body.error.code).toBe('FORBIDDEN');
    expect(vendor.requests).toEqual([]);
  });

  it('answers 404 for an unknown pilot and 400 for a malformed pilot id', async () => {
    const vendor = new FixedCredentialVendor(FRESH);
    const unknown = await renew('p-doesnotexist', vendor);
    expect(unknown.statusCode).toBe(404);
    expect(unknown.body.error.message).toContain('p-doesnotexist');

    const malformed = await renew('not a pilot', vendor);
    expect(malformed.statusCode).toBe(400);
    expect(issueFields(malformed.body)).toEqual(['path.pilotId']);
    expect(vendor.requests).toEqual([]);
  });

  it('answers 503 when STS fails for a while (the pilot retries)', async () => {
    const pilotId = await pilotIn('idle');
    const failing: CredentialVendor = {
      vend: async () => {
        throw new TransientError('vend pilot credentials: Rate exceeded');
      },
    };
    const reply = await renew(pilotId, failing);
    expect(reply.statusCode).toBe(503);
    expect(reply.body.error.code).toBe('TRANSIENT');
  });
});
