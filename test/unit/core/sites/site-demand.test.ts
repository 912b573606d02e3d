import { describe, expect, it, vi } from 'vitest';
import { ForbiddenError, NotFoundError } from '#core/errors.ts';
import { jobMessage } from '#core/jobs/job-message.ts';
import { pilotHeartbeat } from '#core/pilots/pilot-heartbeat.ts';
import { reapPilots } from '#core/pilots/reap-pilots.ts';
import { emptyCensus, type PilotCensus, type SiteInput } from '#core/sites/site.ts';
import { siteDemand } from '#core/sites/site-demand.ts';
import { DEFAULT_START, type InMemoryDeps, inMemoryDeps } from '#test/support/in-memory-ports.ts';
import { addPilot, addSite, BIG_SLOT, pilotToken } from '../scenario.ts';

/** `count` job messages waiting at `siteId`. */
async function queueJobs(deps: InMemoryDeps, siteId: string, count: number): Promise<void> {
  await deps.queue.send(
    Array.from({ length: count }, (_, jobIndex) =>
      jobMessage({ taskId: 't-000042', jobIndex, attempt: 1 }, siteId, 0, { cores: 1, memoryMB: 2000 }),
    ),
  );
}

async function census(deps: InMemoryDeps, siteId: string, pilots: Partial<PilotCensus>): Promise<void> {
  await deps.sites.recordCensus(siteId, { ...emptyCensus(), ...pilots }, DEFAULT_START);
}

async function setup(site: Partial<SiteInput> = {}): Promise<InMemoryDeps> {
  const deps = inMemoryDeps();
  await addSite(deps, { siteId: 'cern', slot: BIG_SLOT, maxPilots: 100, ...site });
  await addSite(deps, { siteId: 'desy' });
  return deps;
}

describe('siteDemand', () => {
  it('wants a pilot for each queued job that idle and starting pilots of the census do not cover', async () => {
    const deps = await setup();
    await queueJobs(deps, 'cern', 10);
    await census(deps, 'cern', { idle: 2, starting: 1, busy: 3, draining: 1 });
    expect(await siteDemand(deps, pilotToken('cern'), 'cern')).toEqual({
      siteId: 'cern',
      status: 'online',
      queuedJobs: 10,
      queuedByClass: { himem: 0, mcore: 0, score: 10 },
      pilots: { starting: 1, idle: 2, busy: 3, draining: 1 },
      maxPilots: 100,
      pilotsWanted: 7,
      slot: BIG_SLOT,
    });
  });

  it('counts an idle pilot as covering only the classes it can run: multi-core jobs behind a one-core pilot want pilots', async () => {
    const deps = await setup();
    await deps.queue.send(
      [0, 1].map((jobIndex) =>
        jobMessage({ taskId: 't-000043', jobIndex, attempt: 1 }, 'cern', 0, { cores: 4, memoryMB: 4000 }),
      ),
    );
    await addPilot(deps, 'cern', { cores: 1, memoryMB: 2000, diskMB: 1000, walltimeLeftSec: 3600 });
    await reapPilots(deps);
    expect(await siteDemand(deps, pilotToken('cern'), 'cern')).toMatchObject({
      queuedJobs: 2,
      queuedByClass: { mcore: 2, score: 0 },
      pilots: { starting: 1, idleClasses: { score: 1 } },
      pilotsWanted: 2,
    });
    // A pilot that can run them covers one of them.
    await addPilot(deps, 'cern', { cores: 4, memoryMB: 8000, diskMB: 1000, walltimeLeftSec: 3600 });
    await reapPilots(deps);
    expect((await siteDemand(deps, pilotToken('cern'), 'cern')).pilotsWanted).toBe(1);
  });

  it('reads pilots from the census, never from the leases', async () => {
    const deps = await setup();
    await queueJobs(deps, 'cern', 3);
    await addPilot(deps);
    const scan = vi.spyOn(deps.leases, 'scan');
    const get = vi.spyOn(deps.leases, 'get');
    // No census yet: the pilot registered since is not counted.
    expect(await siteDemand(deps, pilotToken('cern'), 'cern')).toMatchObject({
      pilots: emptyCensus(),
      pilotsWanted: 3,
    });
    expect(scan).not.toHaveBeenCalled();
    expect(get).not.toHaveBeenCalled();
  });

  it('counts the pilots the reaper found at its last sweep', async () => {
    const deps = await setup();
    await queueJobs(deps, 'cern', 3);
    const pilotId = await addPilot(deps);
    await pilotHeartbeat({ leases: deps.leases, clock: deps.clock, leaseSec: 120 }, pilotId, {
      state: 'idle',
      held: [],
      jobsRun: 0,
    });
    await reapPilots(deps);
    expect(await siteDemand(deps, pilotToken('cern'), 'cern')).toMatchObject({
      pilots: { ...emptyCensus(), idle: 1 },
      pilotsWanted: 2,
    });
  });

  it('wants no more pilots than maxPilots leaves room for beside the live ones', async () => {
    const deps = await setup({ maxPilots: 6 });
    await queueJobs(deps, 'cern', 50);
    await census(deps, 'cern', { busy: 3, draining: 1 });
    expect((await siteDemand(deps, pilotToken('cern'), 'cern')).pilotsWanted).toBe(2);
  });

  it('wants none, never fewer, when the live pilots are at or over maxPilots', async () => {
    const deps = await setup({ maxPilots: 2 });
    await queueJobs(deps, 'cern', 50);
    await census(deps, 'cern', { busy: 3 });
    expect((await siteDemand(deps, pilotToken('cern'), 'cern')).pilotsWanted).toBe(0);
  });

  it('wants none when idle and starting pilots cover the queued jobs, or the queue is empty', async () => {
    const deps = await setup();
    await census(deps, 'cern', { idle: 2, starting: 2 });
    expect((await siteDemand(deps, pilotToken('cern'), 'cern')).pilotsWanted).toBe(0);
    await queueJobs(deps, 'cern', 3);
    expect((await siteDemand(deps, pilotToken('cern'), 'cern')).pilotsWanted).toBe(0);
  });

  it.each(['offline', 'test'] as const)(
    'wants none for a site that is %s, and still reports its queue and pilots',
    async (status) => {
      const deps = await setup();
      await census(deps, 'cern', { busy: 1 });
      await addSite(deps, { siteId: 'cern', slot: BIG_SLOT, status });
      await queueJobs(deps, 'cern', 20);
      expect(await siteDemand(deps, pilotToken('cern'), 'cern')).toMatchObject({
        status,
        queuedJobs: 20,
        pilots: { ...emptyCensus(), busy: 1 },
        pilotsWanted: 0,
      });
    },
  );

  it.each([
    { test: undefined, live: {}, failed: false, wanted: 2, why: 'one per job of the default test (2)' },
    {
      test: { jobs: 3 },
      live: { busy: 1 },
      failed: false,
      wanted: 2,
      why: 'up to its test jobs, beside the live pilots',
    },
    {
      test: { jobs: 3 },
      live: {},
      failed: true,
      wanted: 0,
      why: 'none while the failed test waits for its back-off',
    },
  ])(
    'wants pilots for the test task site health sent a site in test: $why',
    async ({ test, live, failed, wanted }) => {
      const deps = await setup();
      await addSite(deps, { siteId: 'cern', slot: BIG_SLOT, ...(test === undefined ? {} : { test }) });
      await deps.sites.changeStatus(
        'cern',
        { status: 'online', version: 0 },
        { at: DEFAULT_START, from: 'online', to: 'test', reason: 'sick', by: 'site-health' },
        {
          taskId: 't-000042',
          sentAt: DEFAULT_START,
          failures: failed ? 1 : 0,
          ...(failed ? { failedAt: DEFAULT_START } : {}),
        },
      );
      await census(deps, 'cern', live);
      await queueJobs(deps, 'cern', 20);
      expect(await siteDemand(deps, pilotToken('cern'), 'cern')).toMatchObject({
        status: 'test',
        pilotsWanted: wanted,
      });
    },
  );

  it("counts only the site's own queue and census", async () => {
    const deps = await setup({ maxPilots: 10 });
    await queueJobs(deps, 'cern', 5);
    await queueJobs(deps, 'desy', 40);
    await census(deps, 'cern', { idle: 1 });
    await census(deps, 'desy', { idle: 5, busy: 5 });
    expect(await siteDemand(deps, pilotToken('cern'), 'cern')).toMatchObject({
      queuedJobs: 5,
      pilotsWanted: 4,
    });
  });

  it('answers a token for any site (pilot:*) for every site', async () => {
    const deps = await setup();
    await queueJobs(deps, 'desy', 1);
    expect((await siteDemand(deps, pilotToken('*'), 'desy')).pilotsWanted).toBe(1);
  });

  it('throws ForbiddenError for a token of another site, and NotFoundError for an unknown site', async () => {
    const deps = await setup();
    await expect(siteDemand(deps, pilotToken('desy'), 'cern')).rejects.toBeInstanceOf(ForbiddenError);
    await expect(siteDemand(deps, pilotToken('nowhere'), 'nowhere')).rejects.toBeInstanceOf(NotFoundError);
  });
});
