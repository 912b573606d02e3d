import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SiteDemand } from '#core/api/sites.ts';
import type { JobMessage } from '#core/jobs/job-message.ts';
import type { PilotCensus } from '#core/sites/site.ts';
import { createHandler as reapPilotsHandler } from '#lambdas/pilots/reap-pilots/handler.ts';
import { createHandler } from '#lambdas/sites/site-demand/handler.ts';
import {
  createHandlerHarness,
  type HandlerHarness,
  httpEvent,
  invoke,
  invokeHttp,
  issueFields,
} from '#test/support/handler-harness.ts';
import { type ErrorReply, PILOT_SCOPES, registerPilot } from '../task-flow.ts';

const SLOT = { cores: 8, memoryMB: 16_000, walltimeSec: 172_800, diskMB: 50_000 };
let h: HandlerHarness;

beforeAll(async () => {
  h = await createHandlerHarness();
  await h.addSite({ siteId: 'busy-site', maxPilots: 10, slot: SLOT });
  await h.addSite({ siteId: 'capped-site', maxPilots: 3 });
  await h.addSite({ siteId: 'quiet-site', maxPilots: 10, status: 'test' });
  await h.addSite({ siteId: 'neighbour', maxPilots: 50 });
  await h.addSite({ siteId: 'reaped-site', maxPilots: 10 });
});

afterAll(async () => {
  await h?.close();
});

function demand(siteId: string, sub: string | null = `pilot:${siteId}`) {
  return invokeHttp<SiteDemand & ErrorReply>(
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

/** Sends `count` job messages to a site's queue (as the enqueue step would), and waits until SQS counts them. */
async function queueJobs(siteId: string, count: number): Promise<void> {
  const messages: JobMessage[] = Array.from({ length: count }, (_, jobIndex) => ({
    v: 1,
    taskId: 't-demand0001',
    jobIndex,
    attempt: 1,
    siteId,
  }));
  await h.deps.queue.send(messages);
  await expect.poll(() => h.queueDepth(siteId), { timeout: 10_000, interval: 100 }).toBe(count);
}

/** The census the reaper would have written. */
async function census(siteId: string, pilots: Partial<PilotCensus>): Promise<void> {
  await h.deps.sites.recordCensus(
    siteId,
    { starting: 0, idle: 0, busy: 0, draining: 0, ...pilots },
    h.clock.now().toISOString(),
  );
}

describe('site-demand handler', () => {
  it('answers the queued jobs, the live pilots of the census, and the pilots wanted for work nobody covers', async () => {
    await queueJobs('busy-site', 9);
    await census('busy-site', { starting: 1, idle: 2, busy: 3, draining: 1 });

    const reply = await demand('busy-site');

    expect(reply.statusCode).toBe(200);
    expect(reply.body).toEqual({
      siteId: 'busy-site',
      status: 'online',
      queuedJobs: 9,
      queuedByClass: { himem: 0, mcore: 0, score: 9 },
      pilots: { starting: 1, idle: 2, busy: 3, draining: 1 },
      maxPilots: 10,
      // 9 queued − 3 idle or starting = 6 uncovered, but only 10 − 7 live = 3 more fit.
      pilotsWanted: 3,
      slot: SLOT,
    });
  });

  it('wants one pilot per uncovered job while maxPilots leaves room, and counts no pilots before any census', async () => {
    await queueJobs('neighbour', 12);
    expect((await demand('neighbour')).body).toMatchObject({
      pilots: { starting: 0, idle: 0, busy: 0, draining: 0 },
      pilotsWanted: 12,
    });
    await census('neighbour', { idle: 2, busy: 4 });
    expect((await demand('neighbour')).body).toMatchObject({ queuedJobs: 12, pilotsWanted: 10 });
  });

  it('caps the pilots wanted at maxPilots minus the live pilots, never below zero', async () => {
    await queueJobs('capped-site', 20);
    expect((await demand('capped-site')).body.pilotsWanted).toBe(3);
    await census('capped-site', { busy: 4 });
    const reply = await demand('capped-site');
    expect(reply.body.pilots.busy).toBe(4);
    expect(reply.body.pilotsWanted).toBe(0);
  });

  it('wants no pilots for a site in test or offline status, whatever is queued', async () => {
    await queueJobs('quiet-site', 5);
    expect((await demand('quiet-site')).body).toMatchObject({
      status: 'test',
      queuedJobs: 5,
      pilotsWanted: 0,
    });
    await h.addSite({ siteId: 'quiet-site', maxPilots: 10, status: 'offline' });
    expect((await demand('quiet-site')).body).toMatchObject({ status: 'offline', pilotsWanted: 0 });
  });

  it("counts the pilots the reaper's last sweep found live at the site", async () => {
    await queueJobs('reaped-site', 4);
    await registerPilot(h, { siteId: 'reaped-site' });
    await registerPilot(h, { siteId: 'reaped-site' });
    await registerPilot(h, { siteId: 'neighbour' });
    // Not counted until a sweep.
    expect((await demand('reaped-site')).body.pilotsWanted).toBe(4);

    await invoke(reapPilotsHandler(h.deps), {}, 'reap-pilots');

    expect((await demand('reaped-site')).body).toMatchObject({
      pilots: { starting: 2, idle: 0, busy: 0, draining: 0 },
      pilotsWanted: 2,
    });
  });

  it('answers a pilot token for every site (pilot:*)', async () => {
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

  it('answers 404 for an unknown site and 400 naming path.siteId for a malformed site id', async () => {
    const unknown = await demand('nowhere');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.body.error).toEqual({ code: 'NOT_FOUND', message: 'site nowhere does not exist' });

    const malformed = await demand('Not_A_Site', 'pilot:*');
    expect(malformed.statusCode).toBe(400);
    expect(issueFields(malformed.body)).toEqual(['path.siteId']);
  });

  it('answers 401 to a token without a subject', async () => {
    expect((await demand('busy-site', null)).statusCode).toBe(401);
  });
});
