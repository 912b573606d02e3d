import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PilotCredentials, RegisterPilotResponse } from '#core/api/pilots.ts';
import { TransientError } from '#core/errors.ts';
import type { CredentialVendor } from '#core/pilots/ports.ts';
import { createHandler as registerPilotHandler } from '#lambdas/pilots/register-pilot/handler.ts';
import { createHandler } from '#lambdas/pilots/renew-pilot-credentials/handler.ts';
import {
  createHandlerHarness,
  type HandlerHarness,
  httpEvent,
  invokeHttp,
  issueFields,
  RecordingCredentialVendor,
  TEST_SITE,
} from '#test/support/handler-harness.ts';
import { type ErrorReply, PILOT_RESOURCES, PILOT_SCOPES, PILOT_SUB, registerPilot } from '../task-flow.ts';

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

/** A registered pilot whose own heartbeat moved it to `state`; its id. */
async function pilotIn(state: 'starting' | 'idle' | 'busy' | 'draining' | 'exited'): Promise<string> {
  const pilotId = await registerPilot(h);
  if (state !== 'starting') {
    const lease = await h.deps.leases.renew(pilotId, {
      state,
      expiresAt: h.clock.now().getTime() + 60_000,
      beatAt: h.clock.now().toISOString(),
      jobsRun: 0,
    });
    expect(lease?.state).toBe(state);
  }
  return pilotId;
}

function renew(
  pilotId: string,
  credentials: CredentialVendor | undefined,
  options: { sub?: string | null; body?: unknown } = {},
) {
  return invokeHttp<PilotCredentials & ErrorReply>(
    createHandler(credentials === undefined ? h.deps : { ...h.deps, credentials }),
    httpEvent({
      method: 'POST',
      path: '/pilots/{pilotId}/credentials',
      pathParameters: { pilotId },
      body: 'body' in options ? options.body : {},
      sub: options.sub === undefined ? PILOT_SUB : options.sub,
      scopes: PILOT_SCOPES,
    }),
  );
}

describe('renew-pilot-credentials handler', () => {
  for (const state of ['starting', 'idle', 'busy', 'draining'] as const) {
    it(`answers 200 with fresh credentials for its site and its own lease to a ${state} pilot`, async () => {
      const pilotId = await pilotIn(state);
      const vendor = new RecordingCredentialVendor(FRESH);

      const reply = await renew(pilotId, vendor);

      expect(reply.statusCode).toBe(200);
      expect(reply.body).toEqual(FRESH);
      expect(vendor.requests).toEqual([
        {
          pilotId,
          siteId: TEST_SITE,
          queueUrl: await h.deps.queue.queueUrl(TEST_SITE),
          bucket: h.bucket,
          leaseTable: h.tables.leases,
        },
      ]);
    });
  }

  it('answers 410 PILOT_GONE to a pilot that exited, was lost, never got a lease or never registered', async () => {
    const exited = await pilotIn('exited');
    const lost = await pilotIn('idle');
    await h.deps.leases.markLost(lost, h.clock.now().getTime() + 3_600_000);
    const unhealthy = await invokeHttp<RegisterPilotResponse>(
      registerPilotHandler(h.deps),
      httpEvent({
        method: 'POST',
        path: '/pilots',
        body: {
          siteId: TEST_SITE,
          host: 'wn09.test',
          pid: 9,
          resources: PILOT_RESOURCES,
          health: [{ name: 'disk', ok: false }],
        },
        sub: PILOT_SUB,
        scopes: PILOT_SCOPES,
      }),
    );
    expect(unhealthy.body.accepted).toBe(false);
    const vendor = new RecordingCredentialVendor(FRESH);

    for (const [pilotId, said] of [
      [exited, 'is exited'],
      [lost, 'is lost'],
      [unhealthy.body.pilotId, 'unknown or gone'],
      ['p-neverregistered', 'unknown or gone'],
    ] as const) {
      const reply = await renew(pilotId, vendor);
      expect(reply.statusCode, pilotId).toBe(410);
      expect(reply.body.error.code).toBe('PILOT_GONE');
      expect(reply.body.error.message).toContain(said);
      expect(reply.body).not.toHaveProperty('accessKeyId');
    }
    expect(vendor.requests).toEqual([]);
  });

  it('answers 404, saying why, where the deployment vends no credentials (no GLUON_PILOT_ROLE_ARN)', async () => {
    expect(h.config.GLUON_PILOT_ROLE_ARN).toBeUndefined();
    const pilotId = await pilotIn('idle');
    const reply = await renew(pilotId, undefined);
    expect(reply.statusCode).toBe(404);
    expect(reply.body.error).toEqual({
      code: 'NOT_FOUND',
      message: 'this deployment vends no credentials; pilots use their own',
    });
  });

  it('answers 403 to a pilot token of another site, vending nothing', async () => {
    const pilotId = await pilotIn('idle');
    const vendor = new RecordingCredentialVendor(FRESH);
    const reply = await renew(pilotId, vendor, { sub: 'pilot:elsewhere' });
    expect(reply.statusCode).toBe(403);
    expect(reply.body.error.code).toBe('FORBIDDEN');
    expect(vendor.requests).toEqual([]);
  });

  it('answers 400 naming path.pilotId, an unknown body field or a missing body, vending nothing', async () => {
    const pilotId = await pilotIn('idle');
    const vendor = new RecordingCredentialVendor(FRESH);
    const path = await renew('not a pilot', vendor);
    expect(path.statusCode).toBe(400);
    expect(issueFields(path.body)).toEqual(['path.pilotId']);
    const field = await renew(pilotId, vendor, { body: { ttl: 3600 } });
    expect(field.statusCode).toBe(400);
    expect(issueFields(field.body)).toEqual(['ttl']);
    const none = await renew(pilotId, vendor, { body: undefined });
    expect(issueFields(none.body)).toEqual(['body']);
    expect(vendor.requests).toEqual([]);
  });

  it('answers 503 with retry-after when STS is busy (the pilot tries again)', async () => {
    const pilotId = await pilotIn('idle');
    const failing: CredentialVendor = {
      vend: async () => {
        throw new TransientError('vend pilot credentials: Rate exceeded');
      },
    };
    const reply = await renew(pilotId, failing);
    expect(reply.statusCode).toBe(503);
    expect(reply.headers['retry-after']).toBe('2');
    expect(reply.body.error).toEqual({ code: 'TRANSIENT', message: 'vend pilot credentials: Rate exceeded' });
  });

  it('answers 401 to a token without a subject', async () => {
    const reply = await renew(await pilotIn('idle'), new RecordingCredentialVendor(FRESH), { sub: null });
    expect(reply.statusCode).toBe(401);
  });
});
