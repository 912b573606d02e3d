import { describe, expect, it, vi } from 'vitest';
import { NoSiteError, NotFoundError, TransientError } from '#core/errors.ts';
import { emptyCensus, type PilotCensus } from '#core/sites/site.ts';
import { explainTask } from '#core/tasks/explain-task.ts';
import { submitTask } from '#core/tasks/submit-task.ts';
import { failTask, finalizeTask, splitTask } from '#core/tasks/task-workflow.ts';
import {
  DEFAULT_START,
  type InMemoryDeps,
  inMemoryDeps,
  settleJobChanges,
  siteOf,
} from '#test/support/in-memory-ports.ts';
import {
  addPilot,
  addSite,
  alice,
  BIG_SLOT,
  bob,
  claimed,
  complete,
  generationSpec,
  report,
  runningTask,
} from '../scenario.ts';

async function census(deps: InMemoryDeps, pilots: Partial<PilotCensus>, siteId = 'cern') {
  await deps.sites.recordCensus(siteId, { ...emptyCensus(), ...pilots }, DEFAULT_START);
}

/** A task of three jobs, all queued at cern; the site tiny is too small for them. */
async function setup(jobs = 3) {
  const deps = inMemoryDeps();
  await addSite(deps);
  await deps.sites.put(siteOf({ siteId: 'tiny', slot: { cores: 1, memoryMB: 100 } }));
  const taskId = await runningTask(deps, generationSpec(jobs));
  return { deps, taskId };
}

const CHOICE = `Brokerage chose 1 of 2 sites (at ${DEFAULT_START}): cern 100% of the jobs.`;

describe('explainTask', () => {
  it('says that no pilot runs at the site when jobs are queued, with the stored decision and why the other site was rejected', async () => {
    const { deps, taskId } = await setup();
    const why = await explainTask(deps, alice, taskId);
    expect(why).toEqual({
      taskId,
      state: 'running',
      findings: [
        '3 of 3 jobs are queued.',
        CHOICE,
        'No pilot is running at cern: 3 job messages wait for its pilot factory to start pilots (up to 100).',
      ],
      sites: [
        {
          siteId: 'cern',
          chosen: true,
          weight: 1,
          status: 'online',
          queuedJobs: 3,
          pilots: emptyCensus(),
          maxPilots: 100,
        },
        {
          siteId: 'tiny',
          chosen: false,
          rejected: 'needs 2000 MB memory, slots have 100',
          filter: 'resources',
        },
      ],
      brokerage: await deps.tasks.getBrokerage(taskId),
    });
    expect(why.brokerage).toMatchObject({
      at: DEFAULT_START,
      sitesConsidered: 2,
      chosen: [{ siteId: 'cern', weight: 1, inputs: { maxPilots: 100, freePilots: 100, queuedJobs: 0 } }],
      rejected: [
        {
          siteId: 'tiny',
          filter: 'resources',
          details: { resource: 'memoryMB', needs: 2000, offers: 100 },
        },
      ],
    });
  });

  it("adds a chosen cloud site's last provisioning decision, as the site record has it (no other read)", async () => {
    const { deps, taskId } = await setup();
    await deps.sites.recordProvisioning('cern', {
      siteId: 'cern',
      at: '2026-12-02T14:00:00.000Z',
      type: 'ec2',
      queuedJobs: 3,
      pilotsWanted: 3,
      pending: 2,
      running: 0,
      slots: 4,
      hourlyUsd: 0.074,
      requested: [{ market: 'spot', count: 2, slots: 4, hourlyUsd: 0.074 }],
      started: 2,
      limitedBy: 'maxInstances',
      prices: {},
      errors: [],
      summary: 'Asked for 4 slots spot, started 2 instances: held back by maxInstances 2.',
    });
    const provisioningHistory = vi.spyOn(deps.sites, 'provisioningHistory');
    const why = await explainTask(deps, alice, taskId);
    expect(why.findings).toContain(
      'Cloud site cern (2 instances, 4 slots, $0.074/h), provisioner at 2026-12-02T14:00:00.000Z: Asked for 4 slots spot, started 2 instances: held back by maxInstances 2.',
    );
    expect(provisioningHistory).not.toHaveBeenCalled();
  });

  it("counts the site's pilots from the reaper's census, never from the leases", async () => {
    const { deps, taskId } = await setup();
    await addPilot(deps);
    const scan = vi.spyOn(deps.leases, 'scan');
    const why = await explainTask(deps, alice, taskId);
    expect(why.findings).toContainEqual(expect.stringMatching(/^No pilot is running at cern/));
    expect(scan).not.toHaveBeenCalled();
  });

  it('says that all pilots are busy, and that running jobs hold the rest', async () => {
    const { deps, taskId } = await setup();
    const pilotId = await addPilot(deps);
    await claimed(deps, pilotId, { taskId, jobIndex: 0, attempt: 1 });
    await settleJobChanges(deps);
    await census(deps, { busy: 2 });
    expect((await explainTask(deps, alice, taskId)).findings).toEqual([
      '2 of 3 jobs are queued.',
      CHOICE,
      'All 2 pilots at cern are busy (cap 100); 3 job messages wait their turn, first in first out.',
      '1 jobs are running.',
    ]);
  });

  it('says that idle or starting pilots should take the queued jobs soon', async () => {
    const { deps, taskId } = await setup();
    await census(deps, { idle: 1, starting: 1, busy: 1 });
    expect((await explainTask(deps, alice, taskId)).findings).toContain(
      '2 pilots at cern are idle or starting: queued jobs should start within a poll.',
    );
  });

  it.each([
    [
      { status: 'offline' as const },
      'Site cern is offline: its pilot factory starts no pilots, so queued jobs wait there.',
    ],
    [
      { status: 'test' as const },
      'Site cern is in test: only its test tasks run there until it is back online, so queued jobs wait there.',
    ],
    [{ maxPilots: 0 }, 'Site cern allows no pilots (maxPilots 0).'],
    [
      { slot: { ...BIG_SLOT, cores: 1, memoryMB: 500 } },
      "No pilot at cern can run them: needs 2000 MB memory, slots have 500; queued jobs wait until the site's slots change.",
    ],
  ])('says why jobs wait at a chosen site that changed since (%o)', async (change, finding) => {
    const { deps, taskId } = await setup();
    await addSite(deps, { siteId: 'cern', slot: BIG_SLOT, ...change });
    expect((await explainTask(deps, alice, taskId)).findings).toContain(finding);
  });

  it('marks a chosen site that no longer fits with the filter it fails now', async () => {
    const { deps, taskId } = await setup();
    await addSite(deps, { siteId: 'cern', slot: { ...BIG_SLOT, cores: 1, memoryMB: 500 } });
    expect((await explainTask(deps, alice, taskId)).sites[0]).toMatchObject({
      siteId: 'cern',
      chosen: true,
      weight: 1,
      rejected: 'needs 2000 MB memory, slots have 500',
      filter: 'resources',
    });
  });

  it('says a paused task starts no job until it is resumed', async () => {
    const { deps, taskId } = await setup();
    await deps.tasks.steer(taskId, { paused: true, at: DEFAULT_START });
    expect((await explainTask(deps, alice, taskId)).findings).toContain(
      'The task is paused by its owner: no job of it starts until it is resumed.',
    );
  });

  it('says which sites were chosen although their queue was full, when no other could take the jobs', async () => {
    const deps = inMemoryDeps();
    await addSite(deps, { siteId: 'cern', slot: BIG_SLOT, maxQueued: 2 });
    await runningTask(deps, generationSpec(3));
    const taskId = await runningTask(deps, generationSpec(1));
    expect((await explainTask(deps, alice, taskId)).findings).toContain(
      'Site cern was chosen although queue full: 2 jobs waiting, maxQueued 2: no site without that could take the jobs.',
    );
  });

  it('says a cancelled task starts no job any more', async () => {
    const { deps, taskId } = await setup();
    await deps.tasks.requestCancel(taskId, DEFAULT_START);
    expect((await explainTask(deps, alice, taskId)).findings).toEqual([
      'The task was cancelled: no job of it will start any more.',
      CHOICE,
    ]);
  });

  it('says how far a task that is not split yet got, and brokers it for the answer (nothing stored)', async () => {
    const deps = inMemoryDeps();
    await deps.sites.put(siteOf({ siteId: 'tiny', slot: { cores: 1, memoryMB: 100 } }));
    const { taskId } = await submitTask(deps, alice, generationSpec(3));
    const why = await explainTask(deps, alice, taskId);
    expect(why.findings).toEqual([
      'The task is submitted: 0 of 3 jobs are queued so far.',
      'No site can run the jobs now; see why for each site below.',
    ]);
    expect(why.sites).toEqual([
      {
        siteId: 'tiny',
        chosen: false,
        rejected: 'needs 2000 MB memory, slots have 100',
        filter: 'resources',
      },
    ]);
    expect(why.brokerage).toBeUndefined();
    expect(await deps.tasks.getBrokerage(taskId)).toBeUndefined();
  });

  it("shows a task that failed because no site could take it with every site's stored reason", async () => {
    const deps = inMemoryDeps();
    await addSite(deps, { siteId: 'down', slot: BIG_SLOT, status: 'offline' });
    await deps.sites.put(siteOf({ siteId: 'tiny', slot: { cores: 1, memoryMB: 100 } }));
    const { taskId } = await submitTask(deps, alice, generationSpec(3));
    const error = await splitTask(deps, taskId).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NoSiteError);
    await failTask(deps, taskId, {
      Error: 'NoSiteError',
      Cause: JSON.stringify({ errorMessage: (error as Error).message }),
    });
    // The sites changed since: the answer is what brokerage saw then.
    await addSite(deps, { siteId: 'down', slot: BIG_SLOT });
    const why = await explainTask(deps, alice, taskId);
    expect(why.state).toBe('failed');
    expect(why.findings).toEqual([
      'The task is failed: nothing of it is pending.',
      'The task says: NoSiteError: no site can run the jobs: down (site is offline), tiny (needs 2000 MB memory, slots have 100)',
    ]);
    expect(why.sites).toEqual([
      { siteId: 'down', chosen: false, rejected: 'site is offline', filter: 'status' },
      {
        siteId: 'tiny',
        chosen: false,
        rejected: 'needs 2000 MB memory, slots have 100',
        filter: 'resources',
      },
    ]);
    expect(why.brokerage?.chosen).toEqual([]);
  });

  it('says nothing holds a task that ended done', async () => {
    const { deps, taskId } = await setup(1);
    const pilotId = await addPilot(deps);
    await claimed(deps, pilotId, { taskId, jobIndex: 0, attempt: 1 });
    await complete(deps, pilotId, report({ taskId, jobIndex: 0, attempt: 1 }));
    await settleJobChanges(deps);
    await finalizeTask(deps, taskId);
    const why = await explainTask(deps, alice, taskId);
    expect(why).toMatchObject({
      taskId,
      state: 'done',
      findings: ['The task is done: nothing of it is pending.'],
      sites: [
        { siteId: 'cern', chosen: true, weight: 1 },
        { siteId: 'tiny', chosen: false, filter: 'resources' },
      ],
    });
  });

  it('gives the reason the task states', async () => {
    const deps = inMemoryDeps();
    await addSite(deps);
    deps.workflow.startError = new Error('throttled');
    await expect(submitTask(deps, alice, generationSpec(1))).rejects.toBeInstanceOf(TransientError);
    const taskId = 't-000001';
    expect((await explainTask(deps, alice, taskId)).findings).toEqual([
      'The task is failed: nothing of it is pending.',
      'The task says: workflow could not be started: throttled',
    ]);
  });

  it("throws NotFoundError for another user's task", async () => {
    const { deps, taskId } = await setup();
    await expect(explainTask(deps, bob, taskId)).rejects.toBeInstanceOf(NotFoundError);
  });
});
