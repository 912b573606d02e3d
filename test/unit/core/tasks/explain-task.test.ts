import { describe, expect, it, vi } from 'vitest';
import { NotFoundError, TransientError } from '#core/errors.ts';
import { emptyCensus, type PilotCensus } from '#core/sites/site.ts';
import { explainTask } from '#core/tasks/explain-task.ts';
import { submitTask } from '#core/tasks/submit-task.ts';
import { finalizeTask } from '#core/tasks/task-workflow.ts';
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

describe('explainTask', () => {
  it('says that no pilot runs at the site when jobs are queued, and why the other site was not chosen', async () => {
    const { deps, taskId } = await setup();
    const why = await explainTask(deps, alice, taskId);
    expect(why).toEqual({
      taskId,
      state: 'running',
      findings: [
        '3 of 3 jobs are queued.',
        'No pilot is running at cern: 3 job messages wait for its pilot factory to start pilots (up to 100).',
      ],
      sites: [
        {
          siteId: 'cern',
          chosen: true,
          status: 'online',
          queuedJobs: 3,
          pilots: emptyCensus(),
          maxPilots: 100,
        },
        { siteId: 'tiny', chosen: false, rejected: 'needs 2000 MB memory, slots have 100' },
      ],
    });
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

  it('says that the site is offline', async () => {
    const { deps, taskId } = await setup();
    await addSite(deps, { siteId: 'cern', slot: BIG_SLOT, status: 'offline' });
    expect((await explainTask(deps, alice, taskId)).findings).toContain(
      'Site cern is offline: its pilot factory starts no pilots, so queued jobs wait there.',
    );
  });

  it('says that the site allows no pilots', async () => {
    const { deps, taskId } = await setup();
    await addSite(deps, { siteId: 'cern', slot: BIG_SLOT, maxPilots: 0 });
    expect((await explainTask(deps, alice, taskId)).findings).toContain(
      'Site cern allows no pilots (maxPilots 0).',
    );
  });

  it('says that a chosen site no longer fits the task', async () => {
    const { deps, taskId } = await setup();
    await addSite(deps, { siteId: 'cern', slot: { ...BIG_SLOT, cores: 1, memoryMB: 500 } });
    const why = await explainTask(deps, alice, taskId);
    expect(why.findings).toContain(
      'Site cern no longer fits the task (needs 2000 MB memory, slots have 500); jobs already sent there wait for it.',
    );
    expect(why.sites[0]).toMatchObject({
      siteId: 'cern',
      chosen: true,
      rejected: 'needs 2000 MB memory, slots have 500',
    });
  });

  it('says a cancelled task starts no job any more', async () => {
    const { deps, taskId } = await setup();
    await deps.tasks.requestCancel(taskId, DEFAULT_START);
    expect((await explainTask(deps, alice, taskId)).findings).toEqual([
      'The task was cancelled: no job of it will start any more.',
    ]);
  });

  it('says how far a task that is not split yet got, and that no site can run it', async () => {
    const deps = inMemoryDeps();
    const { taskId } = await submitTask(deps, alice, generationSpec(3));
    expect((await explainTask(deps, alice, taskId)).findings).toEqual([
      'The task is submitted: 0 of 3 jobs are queued so far.',
      'No site can run the jobs now; see why for each site below.',
    ]);
  });

  it('says nothing holds a task that ended done', async () => {
    const { deps, taskId } = await setup(1);
    const pilotId = await addPilot(deps);
    await claimed(deps, pilotId, { taskId, jobIndex: 0, attempt: 1 });
    await complete(deps, pilotId, report({ taskId, jobIndex: 0, attempt: 1 }));
    await settleJobChanges(deps);
    await finalizeTask(deps, taskId);
    expect(await explainTask(deps, alice, taskId)).toEqual({
      taskId,
      state: 'done',
      findings: ['The task is done: nothing of it is pending.'],
      sites: [],
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
