import { describe, expect, it, vi } from 'vitest';
import { emptyJobCounts } from '#core/jobs/job-counts.ts';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import { pilotHeartbeat } from '#core/pilots/pilot-heartbeat.ts';
import { reapPilots } from '#core/pilots/reap-pilots.ts';
import { emptyCensus } from '#core/sites/site.ts';
import {
  DEFAULT_START,
  type InMemoryDeps,
  inMemoryDeps,
  settleJobChanges,
} from '#test/support/in-memory-ports.ts';
import {
  addPilot,
  addSite,
  BIG_PILOT,
  BIG_SLOT,
  claimed,
  complete,
  countsOf,
  expireLeases,
  generationSpec,
  leaseOf,
  recordOf,
  report,
  runningTask,
} from '../scenario.ts';

const nothing = {
  pilotsLost: 0,
  pilotsExited: 0,
  jobsRequeued: 0,
  claimsAbandoned: 0,
  deadLettersRedriven: 0,
  pilotsLive: 0,
};

function renew(deps: InMemoryDeps, pilotId: string, state: 'idle' | 'busy' | 'draining' | 'exited' = 'idle') {
  return pilotHeartbeat(
    { leases: deps.leases, clock: deps.clock, leaseSec: deps.settings.leaseSec },
    pilotId,
    {
      state,
      held: [],
      jobsRun: 3,
    },
  );
}

async function setup(spec = generationSpec(3)) {
  const deps = inMemoryDeps();
  await addSite(deps);
  await addSite(deps, { siteId: 'bnl', slot: BIG_SLOT });
  const taskId = await runningTask(deps, spec);
  const pilotId = await addPilot(deps);
  return { deps, taskId, pilotId };
}

/** What one BIG_PILOT can run: every class but GPU. */
const ALL = { himem: 1, mcore: 1, score: 1 };

describe('reapPilots', () => {
  it('leaves a pilot whose lease has not expired alone and counts it', async () => {
    const { deps, taskId, pilotId } = await setup();
    await claimed(deps, pilotId, { taskId, jobIndex: 0, attempt: 1 });
    deps.clock.advance(deps.settings.leaseSec * 1000);
    expect(await reapPilots(deps)).toEqual({ ...nothing, pilotsLive: 1 });
    expect((await leaseOf(deps, pilotId)).state).toBe('busy');
    expect((await recordOf(deps, taskId, 0)).state).toBe('running');
  });

  it('declares a pilot lost once its lease expired and queues its running job again as a new attempt', async () => {
    const { deps, taskId, pilotId } = await setup();
    await claimed(deps, pilotId, { taskId, jobIndex: 0, attempt: 1 });
    expireLeases(deps);
    expect(await reapPilots(deps)).toEqual({ ...nothing, pilotsLost: 1, jobsRequeued: 1 });
    const expiredAt = new Date(Date.parse(DEFAULT_START) + deps.settings.leaseSec * 1000).toISOString();
    // A lost pilot is the infrastructure's fault: by the default retry rules, no attempt is spent.
    expect(await recordOf(deps, taskId, 0)).toMatchObject({
      state: 'queued',
      attempt: 2,
      failures: 0,
      systemRetries: 1,
      ended: {
        attempt: 1,
        pilotId,
        state: 'lost',
        pilotErrorCode: PILOT_ERROR_CODES.PILOT_LOST,
        errorMessage: `no heartbeat from pilot ${pilotId} since its lease expired at ${expiredAt}`,
      },
    });
    expect(await deps.pilots.get(pilotId)).toMatchObject({
      state: 'lost',
      endedAt: deps.clock.now().toISOString(),
    });
    expect(await deps.leases.get(pilotId)).toBeUndefined();
  });

  it("fails a lost pilot's job whose free retries and attempts are spent", async () => {
    const { deps, taskId, pilotId } = await setup(generationSpec(1, { maxAttempts: 1 }));
    const ref = { taskId, jobIndex: 0, attempt: 1 };
    await claimed(deps, pilotId, ref);
    // Ten retries that spent no attempt already: the default rules' system retry limit.
    await deps.jobs.update(ref, { set: { systemRetries: 10 } }, [{ state: 'running', attempt: 1 }]);
    expireLeases(deps);
    expect((await reapPilots(deps)).pilotsLost).toBe(1);
    expect(await recordOf(deps, taskId, 0)).toMatchObject({
      state: 'failed',
      failures: 1,
      pilotErrorCode: PILOT_ERROR_CODES.PILOT_LOST,
    });
  });

  it('sends the requeued attempt through the change feed, to the site of the job', async () => {
    const { deps, taskId, pilotId } = await setup();
    await claimed(deps, pilotId, { taskId, jobIndex: 1, attempt: 1 });
    deps.queue.clear();
    expireLeases(deps);
    await reapPilots(deps);
    expect(deps.queue.sent).toEqual([]);
    await settleJobChanges(deps);
    expect(deps.queue.sent).toEqual([
      expect.objectContaining({ taskId, jobIndex: 1, attempt: 2, siteId: 'cern' }),
    ]);
    expect(await countsOf(deps, taskId)).toEqual({ ...emptyJobCounts(), queued: 3 });
  });

  it('fences a claim the lost pilot left half-done (lease written, job record not)', async () => {
    const { deps, taskId, pilotId } = await setup();
    await deps.leases.hold(pilotId, { jobs: [`${taskId}.2.1`], state: 'busy', expiresAt: 0 });
    expireLeases(deps);
    expect(await reapPilots(deps)).toEqual({ ...nothing, pilotsLost: 1, claimsAbandoned: 1 });
    expect(await recordOf(deps, taskId, 2)).toMatchObject({
      state: 'queued',
      attempt: 2,
      failures: 0,
      siteId: 'cern',
      ended: { attempt: 1, state: 'abandoned', pilotErrorCode: PILOT_ERROR_CODES.CLAIM_ABANDONED },
    });
  });

  it('fences a half-done claim of a later attempt queued by its record', async () => {
    const { deps, taskId, pilotId } = await setup();
    const first = { taskId, jobIndex: 0, attempt: 1 };
    await claimed(deps, pilotId, first);
    await complete(deps, pilotId, report(first, PILOT_ERROR_CODES.PAYLOAD_FAILED));
    await deps.leases.hold(pilotId, { jobs: [`${taskId}.0.2`], state: 'busy', expiresAt: 0 });
    expireLeases(deps);
    expect((await reapPilots(deps)).claimsAbandoned).toBe(1);
    expect(await recordOf(deps, taskId, 0)).toMatchObject({ state: 'queued', attempt: 3, failures: 1 });
  });

  it('leaves a job its lease lists alone when another pilot holds it, or it ended', async () => {
    const { deps, taskId, pilotId } = await setup();
    const other = await addPilot(deps, 'cern', BIG_PILOT, 'wn002.example.org');
    const job0 = { taskId, jobIndex: 0, attempt: 1 };
    const job1 = { taskId, jobIndex: 1, attempt: 1 };
    await claimed(deps, other, job0);
    await claimed(deps, pilotId, job1);
    await complete(deps, pilotId, report(job1));
    await deps.leases.hold(pilotId, {
      jobs: [`${taskId}.0.1`, `${taskId}.1.1`],
      state: 'busy',
      expiresAt: 0,
    });
    deps.clock.advance(deps.settings.leaseSec * 500);
    await renew(deps, other, 'busy');
    deps.clock.advance(deps.settings.leaseSec * 500 + 1);
    expect(await reapPilots(deps)).toEqual({ ...nothing, pilotsLost: 1, pilotsLive: 1 });
    expect(await recordOf(deps, taskId, 0)).toMatchObject({ state: 'running', pilotId: other });
    expect((await recordOf(deps, taskId, 1)).state).toBe('finished');
  });

  it('takes an exited pilot off the leases and records its end', async () => {
    const { deps, pilotId } = await setup();
    await renew(deps, pilotId, 'exited');
    expect(await reapPilots(deps)).toEqual({ ...nothing, pilotsExited: 1 });
    expect(await deps.leases.get(pilotId)).toBeUndefined();
    expect(await deps.pilots.get(pilotId)).toMatchObject({ state: 'exited', jobsRun: 3 });
  });

  it('queues again a job an exited pilot still held', async () => {
    const { deps, taskId, pilotId } = await setup();
    await claimed(deps, pilotId, { taskId, jobIndex: 0, attempt: 1 });
    await renew(deps, pilotId, 'exited');
    expect(await reapPilots(deps)).toMatchObject({ pilotsExited: 1, jobsRequeued: 1 });
    expect(await recordOf(deps, taskId, 0)).toMatchObject({ state: 'queued', attempt: 2 });
  });

  it('settles a lease marked lost by a sweep that stopped half-way', async () => {
    const { deps, taskId, pilotId } = await setup();
    await claimed(deps, pilotId, { taskId, jobIndex: 0, attempt: 1 });
    expireLeases(deps);
    await deps.leases.markLost(pilotId, deps.clock.now().getTime());
    expect(await reapPilots(deps)).toEqual({ ...nothing, pilotsLost: 1, jobsRequeued: 1 });
    expect(await deps.leases.get(pilotId)).toBeUndefined();
  });

  it('does nothing twice: a second sweep finds the lost pilot gone', async () => {
    const { deps, taskId, pilotId } = await setup();
    await claimed(deps, pilotId, { taskId, jobIndex: 0, attempt: 1 });
    expireLeases(deps);
    await reapPilots(deps);
    expect(await reapPilots(deps)).toEqual(nothing);
    expect((await recordOf(deps, taskId, 0)).attempt).toBe(2);
  });

  it('counts a pilot that renewed its lease after the sweep read it as live', async () => {
    const { deps, pilotId } = await setup();
    const stale = await leaseOf(deps, pilotId);
    expireLeases(deps);
    await renew(deps, pilotId, 'idle');
    vi.spyOn(deps.leases, 'scan').mockResolvedValueOnce({ leases: [stale] });
    expect(await reapPilots(deps)).toEqual({ ...nothing, pilotsLive: 1 });
    expect((await leaseOf(deps, pilotId)).state).toBe('idle');
    expect((await deps.sites.get('cern'))?.census?.pilots).toEqual({
      ...emptyCensus(),
      idle: 1,
      classes: ALL,
      idleClasses: ALL,
    });
  });

  describe('the census', () => {
    it('records the live pilots of every site by state', async () => {
      const { deps } = await setup();
      const busy = await addPilot(deps);
      await renew(deps, busy, 'busy');
      const draining = await addPilot(deps);
      await renew(deps, draining, 'draining');
      await addPilot(deps, 'bnl');
      const gone = await addPilot(deps, 'bnl');
      await renew(deps, gone, 'exited');
      await reapPilots(deps);
      expect((await deps.sites.get('cern'))?.census).toEqual({
        pilots: {
          starting: 1,
          idle: 0,
          busy: 1,
          draining: 1,
          classes: { himem: 3, mcore: 3, score: 3 },
          idleClasses: ALL,
        },
        at: DEFAULT_START,
      });
      expect((await deps.sites.get('bnl'))?.census?.pilots).toEqual({
        ...emptyCensus(),
        starting: 1,
        classes: ALL,
        idleClasses: ALL,
      });
    });

    it('counts the live pilots that can run each resource class, by the resources they registered', async () => {
      const { deps } = await setup();
      await addPilot(deps, 'bnl', { cores: 1, memoryMB: 2000, diskMB: 1000, walltimeLeftSec: 3600 });
      await addPilot(deps, 'bnl', { cores: 4, memoryMB: 8000, diskMB: 1000, walltimeLeftSec: 3600, gpus: 1 });
      await reapPilots(deps);
      expect((await deps.sites.get('bnl'))?.census?.pilots.classes).toEqual({
        score: 2,
        mcore: 1,
        himem: 1,
        gpu: 1,
      });
      // Both starting: they count as covering their classes' queued jobs; a busy one would not.
      expect((await deps.sites.get('bnl'))?.census?.pilots.idleClasses).toEqual({
        score: 2,
        mcore: 1,
        himem: 1,
        gpu: 1,
      });
    });

    it('does not count a pilot it declares lost', async () => {
      const { deps } = await setup();
      expireLeases(deps);
      await reapPilots(deps);
      expect((await deps.sites.get('cern'))?.census?.pilots).toEqual(emptyCensus());
    });

    it('writes the census of a site only when it changed, or when it is five minutes old', async () => {
      const { deps, pilotId } = await setup();
      const recordCensus = vi.spyOn(deps.sites, 'recordCensus');
      await reapPilots(deps);
      expect(recordCensus.mock.calls.map(([siteId]) => siteId).sort()).toEqual(['bnl', 'cern']);
      recordCensus.mockClear();

      deps.clock.advance(10_000);
      await renew(deps, pilotId, 'idle');
      await reapPilots(deps);
      expect(recordCensus.mock.calls.map(([siteId, pilots]) => [siteId, pilots])).toEqual([
        ['cern', { ...emptyCensus(), idle: 1, classes: ALL, idleClasses: ALL }],
      ]);
      recordCensus.mockClear();

      deps.clock.advance(10_000);
      await renew(deps, pilotId, 'idle');
      await reapPilots(deps);
      expect(recordCensus).not.toHaveBeenCalled();

      deps.clock.advance(290_000);
      await renew(deps, pilotId, 'idle');
      await reapPilots(deps);
      expect(recordCensus.mock.calls.map(([siteId]) => siteId).sort()).toEqual(['bnl', 'cern']);
    });
  });

  it('sends the job messages of a site DLQ again and keeps the malformed ones for operators', async () => {
    const { deps, taskId } = await setup();
    deps.queue.clear();
    const message = { v: 1, taskId, jobIndex: 2, attempt: 1, siteId: 'cern', sentAt: 5 };
    deps.queue.deadLetters.set('cern', [JSON.stringify(message), 'not json']);
    expect(await reapPilots(deps)).toEqual({ ...nothing, pilotsLive: 1, deadLettersRedriven: 1 });
    expect(deps.queue.sent).toEqual([message]);
    expect(deps.queue.deadLetters.get('cern')).toEqual(['not json']);
  });
});
