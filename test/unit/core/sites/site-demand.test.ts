import { describe, expect, it } from 'vitest';
import { ForbiddenError, NotFoundError } from '#core/errors.ts';
import type { PilotState } from '#core/pilots/pilot.ts';
import type { SiteInput } from '#core/sites/site.ts';
import { siteDemand } from '#core/sites/site-demand.ts';
import { type InMemoryDeps, inMemoryDeps } from '#test/support/in-memory-ports.ts';
import { addPilot, addSite, BIG_SLOT, pilotToken } from '../scenario.ts';

/** `queued` job messages waiting at `siteId`. */
async function queueJobs(deps: InMemoryDeps, siteId: string, queued: number): Promise<void> {
  await deps.queue.send(
    Array.from({ length: queued }, (_, i) => ({
      v: 1 as const,
      taskId: 't-000042',
      jobIndex: i,
      attempt: 1,
      siteId,
    })),
  );
}

/** Pilots of a site in the given states (registered, then moved by a heartbeat). */
async function pilots(deps: InMemoryDeps, siteId: string, states: Partial<Record<PilotState, number>>) {
  for (const [state, count] of Object.entries(states) as Array<[PilotState, number]>) {
    for (let i = 0; i < count; i++) {
      const pilot = await addPilot(deps, siteId);
      if (state !== 'starting') {
        await deps.pilots.heartbeat(pilot.pilotId, { state, at: deps.clock.now().toISOString() });
      }
    }
  }
}

async function setup(site: Partial<SiteInput> = {}): Promise<InMemoryDeps> {
  const deps = inMemoryDeps();
  await addSite(deps, { siteId: 'cern', slot: BIG_SLOT, maxPilots: 100, ...site });
  await addSite(deps, { siteId: 'desy' });
  return deps;
}

describe('siteDemand', () => {
  it('wants a pilot for each queued job that idle and starting pilots do not cover', async () => {
    const deps = await setup();
    await queueJobs(deps, 'cern', 10);
    await pilots(deps, 'cern', { idle: 2, starting: 1, busy: 3, draining: 1 });

    expect(await siteDemand(deps, pilotToken('cern'), 'cern')).toEqual({
      siteId: 'cern',
      status: 'online',
      queuedJobs: 10,
      pilots: { starting: 1, idle: 2, busy: 3, draining: 1 },
      maxPilots: 100,
      pilotsWanted: 7,
      slot: BIG_SLOT,
    });
  });

  it('wants no more pilots than maxPilots leaves room for beside the live ones', async () => {
    const deps = await setup({ maxPilots: 6 });
    await queueJobs(deps, 'cern', 50);
    await pilots(deps, 'cern', { busy: 3, draining: 1 });
    expect((await siteDemand(deps, pilotToken('cern'), 'cern')).pilotsWanted).toBe(2);
  });

  it('wants none, never fewer, when the live pilots are at or over maxPilots', async () => {
    const deps = await setup({ maxPilots: 2 });
    await queueJobs(deps, 'cern', 50);
    await pilots(deps, 'cern', { busy: 3 });
    const demand = await siteDemand(deps, pilotToken('cern'), 'cern');
    expect(demand.pilotsWanted).toBe(0);
    expect(demand.pilots.busy).toBe(3);
  });

  it('wants none when idle and starting pilots cover the queued jobs', async () => {
    const deps = await setup();
    await queueJobs(deps, 'cern', 3);
    await pilots(deps, 'cern', { idle: 2, starting: 2 });
    expect((await siteDemand(deps, pilotToken('cern'), 'cern')).pilotsWanted).toBe(0);
  });

  it('wants none with an empty queue', async () => {
    const deps = await setup();
    expect(await siteDemand(deps, pilotToken('cern'), 'cern')).toMatchObject({
      queuedJobs: 0,
      pilotsWanted: 0,
    });
  });

  for (const status of ['offline', 'test'] as const) {
    it(`wants none for a site that is ${status}, and still reports its queue and pilots`, async () => {
      const deps = await setup();
      await pilots(deps, 'cern', { busy: 1 });
      await addSite(deps, { siteId: 'cern', slot: BIG_SLOT, status });
      await queueJobs(deps, 'cern', 20);
      expect(await siteDemand(deps, pilotToken('cern'), 'cern')).toMatchObject({
        status,
        queuedJobs: 20,
        pilots: { starting: 0, idle: 0, busy: 1, draining: 0 },
        pilotsWanted: 0,
      });
    });
  }

  it("counts only the site's live pilots and the site's own queue", async () => {
    const deps = await setup({ maxPilots: 10 });
    await queueJobs(deps, 'cern', 5);
    await queueJobs(deps, 'desy', 40);
    await pilots(deps, 'cern', { idle: 1, exited: 4, lost: 3, unhealthy: 2 });
    await pilots(deps, 'desy', { idle: 5, busy: 5 });

    const demand = await siteDemand(deps, pilotToken('cern'), 'cern');
    expect(demand.queuedJobs).toBe(5);
    expect(demand.pilots).toEqual({ starting: 0, idle: 1, busy: 0, draining: 0 });
    expect(demand.pilotsWanted).toBe(4);
  });

  it('answers a site-wide pilot token (pilot:*) for any site', async () => {
    const deps = await setup();
    await queueJobs(deps, 'desy', 1);
    expect((await siteDemand(deps, pilotToken('*'), 'desy')).pilotsWanted).toBe(1);
  });

  it('refuses a pilot token of another site, and an unknown site', async () => {
    const deps = await setup();
    await expect(siteDemand(deps, pilotToken('desy'), 'cern')).rejects.toBeInstanceOf(ForbiddenError);
    await expect(siteDemand(deps, pilotToken('nowhere'), 'nowhere')).rejects.toBeInstanceOf(NotFoundError);
  });
});
