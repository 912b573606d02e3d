import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorBody, SiteDemand } from '#core/api/contract.ts';
import type { JobMessage } from '#core/jobs/job-message.ts';
import type { PilotState } from '#core/pilots/pilot.ts';
import { createHandler as registerPilotHandler } from '#lambdas/pilots/register-pilot/handler.ts';
import { createHandler } from '#lambdas/sites/site-demand/handler.ts';
import {
  createHandlerHarness,
  type HandlerHarness,
  httpEvent,
  invokeHttp,
  issueFields,
} from '#test/support/handler-harness.ts';
import { heartbeat, PILOT_SCOPES } from '../task-flow.ts';

const SLOT = { cores: 8, memoryMB: 16_000, walltimeSec: 172_800, diskMB: 50_000 };
let h: HandlerHarness;

beforeAll(async () => {
  h = await createHandlerHarness();
  await h.addSite({ siteId: 'busy-site', maxPilots: 10, slot: SLOT });
  await h.addSite({ siteId: 'capped-site', maxPilots: 3 });
  await h.addSite({ siteId: 'quiet-site', maxPilots: 10, status: 'test' });
  await h.addSite({ siteId: 'neighbour', maxPilots: 50 });
});

afterAll(async () => {
  await h?.close();
});

function demand(siteId: string, sub: string | null = `pilot:${siteId}`) {
  return invokeHttp<SiteDemand & ErrorBody>(
    createHandler(h.deps),
    httpEvent({
      method: 'GET',
      path: '/sites/{siteId}/demand',
      pathParameters: { siteId },
      sub,
      scopes: PILOT_SCOPES,
    }),
  );
}

/** Sends `count` job messages to a site's queue (as enqueue-jobs would). */
async function queueJobs(siteId: string, count: number): Promise<void> {
  const messages: JobMessage[] = Array.from({ length: count }, (_, jobIndex) => ({
    v: 1,
    taskId: 't-demand0001',
    jobIndex,
    attempt: 1,
    siteId,
  }));
  await h.deps.queue.send(messages);
}

/** Registers pilots at a site through the handler and moves them to `state` with a heartbeat. */
async function pilots(siteId: string, states: Partial<Record<PilotState, number>>): Promise<void> {
  const register = registerPilotHandler(h.deps);
  for (const [state, count] of Object.entries(states) as Array<[PilotState, number]>) {
    for (let i = 0; i < count; i++) {
      const reply = await invokeHttp<{ pilotId: string }>(
        register,
        httpEvent({
          method: 'POST',
          path: '/pilots',
          body: {
            siteId,
            host: `wn${i}.${siteId}.test`,
            pid: 100 + i,
            resources: { cores: 8, memoryMB: 16_000, diskMB: 50_000, walltimeLeftSec: 86_400 },
          },
          sub: `pilot:${siteId}`,
          scopes: PILOT_SCOPES,
        }),
      );
      expect(reply.statusCode).toBe(201);
      if (state !== 'starting') {
        const beat = await heartbeat(h, reply.body.pilotId, { state, jobs: [] }, `pilot:${siteId}`);
        expect(beat.statusCode).toBe(200);
      }
    }
  }
}

/** Waits until the site's queue reports `depth` waiting messages (SQS depth is approximate). */
async function queueShows(siteId: string, depth: number): Promise<void> {
  await expect.poll(() => h.queueDepth(siteId), { timeout: 10_000, interval: 100 }).toBe(depth);
}

describe('site-demand handler', () => {
  it('answers the queued jobs, the live pilots, and the pilots wanted for work nobody covers', async () => {
    await queueJobs('busy-site', 9);
    await pilots('busy-site', { starting: 1, idle: 2, busy: 3, draining: 1 });
    await pilots('busy-site', { exited: 2, lost: 1 });
    await queueShows('busy-site', 9);

    const reply = await demand('busy-site');

    expect(reply.statusCode).toBe(200);
    expect(reply.body).toEqual({
      siteId: 'busy-site',
      status: 'online',
      queuedJobs: 9,
      pilots: { starting: 1, idle: 2, busy: 3, draining: 1 },
      maxPilots: 10,
      // 9 queued − 3 idle or starting = 6 uncovered, but only 10 − 7 live = 3 more fit.
      pilotsWanted: 3,
      slot: SLOT,
    });
  });

  it('wants one pilot per uncovered job while maxPilots leaves room', async () => {
    await queueJobs('neighbour', 12);
    await pilots('neighbour', { idle: 2, busy: 4 });
    await queueShows('neighbour', 12);
    const reply = await demand('neighbour');
    expect(reply.statusCode).toBe(200);
    expect(reply.body).toMatchObject({ queuedJobs: 12, pilotsWanted: 10 });
  });

  it('caps the pilots wanted at maxPilots minus the live pilots, never below zero', async () => {
    await queueJobs('capped-site', 20);
    await queueShows('capped-site', 20);
    expect((await demand('capped-site')).body.pilotsWanted).toBe(3);

    await pilots('capped-site', { busy: 4 });
    const reply = await demand('capped-site');
    expect(reply.body.pilots.busy).toBe(4);
    expect(reply.body.pilotsWanted).toBe(0);
  });

  it('wants no pilots for a site in test (or offline) status, whatever is queued', async () => {
    await queueJobs('quiet-site', 5);
    await queueShows('quiet-site', 5);
    const reply = await demand('quiet-site');
    expect(reply.statusCode).toBe(200);
    expect(reply.body).toMatchObject({ status: 'test', queuedJobs: 5, pilotsWanted: 0 });

    await h.addSite({ siteId: 'quiet-site', maxPilots: 10, status: 'offline' });
    expect((await demand('quiet-site')).body).toMatchObject({ status: 'offline', pilotsWanted: 0 });
  });

  it("counts only the site's own live pilots (the neighbour's and gone ones are left out)", async () => {
    await h.addSite({ siteId: 'lonely-site', maxPilots: 5 });
    await queueJobs('lonely-site', 2);
    await queueShows('lonely-site', 2);
    const reply = await demand('lonely-site');
    expect(reply.body.pilots).toEqual({ starting: 0, idle: 0, busy: 0, draining: 0 });
    expect(reply.body.pilotsWanted).toBe(2);
  });

  it('answers a site-wide pilot token (pilot:*)', async () => {
    const reply = await demand('neighbour', 'pilot:*');
    expect(reply.statusCode).toBe(200);
    expect(reply.body.siteId).toBe('neighbour');
  });

  it('answers 403 to a pilot token of another site', async () => {
    const reply = await demand('busy-site', 'pilot:neighbour');
    expect(reply.statusCode).toBe(403);
    expect(reply.body.error.code).toBe('FORBIDDEN');
    expect(reply.body).not.toHaveProperty('queuedJobs');
  });

  it('answers 404 for an unknown site and 400 for a malformed site id', async () => {
    const unknown = await demand('nowhere');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.body.error.message).toContain('nowhere');

    const malformed = await demand('Not_A_Site', 'pilot:*');
    expect(malformed.statusCode).toBe(400);
    expect(issueFields(malformed.body)).toEqual(['path.siteId']);
  });

  it('answers 401 to a token without a subject', async () => {
    expect((await demand('busy-site', null)).statusCode).toBe(401);
  });
});
