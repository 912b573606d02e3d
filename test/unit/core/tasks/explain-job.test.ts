import { describe, expect, it } from 'vitest';
import type { JobFinding } from '#core/api/tasks.ts';
import { NoSiteError, NotFoundError } from '#core/errors.ts';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import { reapPilots } from '#core/pilots/reap-pilots.ts';
import { explainJob, JOB_FINDING_SOURCES, type JobFindingSource } from '#core/tasks/explain-job.ts';
import { submitTask } from '#core/tasks/submit-task.ts';
import { enqueueJobs, failTask, splitTask } from '#core/tasks/task-workflow.ts';
import { DEFAULT_START, inMemoryDeps, settleJobChanges, siteOf } from '#test/support/in-memory-ports.ts';
import {
  addPaidSite,
  addPilot,
  addSite,
  alice,
  BIG_SLOT,
  bob,
  claimed,
  complete,
  costedUsage,
  generationSpec,
  report,
  runningTask,
} from '../scenario.ts';

/** A task of `jobs` jobs queued at cern (the one site that fits), tiny rejected. */
async function setup(jobs = 2) {
  const deps = inMemoryDeps();
  await addSite(deps, { siteId: 'cern', slot: BIG_SLOT, maxPilots: 40 });
  await deps.sites.put(siteOf({ siteId: 'tiny', slot: { cores: 1, memoryMB: 100 } }));
  const taskId = await runningTask(deps, generationSpec(jobs));
  return { deps, taskId };
}

const codes = (findings: JobFinding[]) => findings.map((f) => f.code);

describe('explainJob', () => {
  it('says where a queued job was sent and why, and that no pilot runs there yet', async () => {
    const { deps, taskId } = await setup();
    expect(await explainJob(deps, alice, taskId, 1)).toEqual({
      taskId,
      jobIndex: 1,
      state: 'queued',
      attempt: 1,
      siteId: 'cern',
      findings: [
        { code: 'state', message: 'Job 1 is queued.' },
        {
          code: 'sent-to',
          siteId: 'cern',
          message:
            'Job 1 was sent to site cern: brokerage chose cern with weight 100% (40 of 40 pilots free, 0 jobs queued there), and dispatch released the job to its queue when it had room.',
        },
        {
          code: 'no-pilots',
          siteId: 'cern',
          message:
            'No pilot is running at cern: 2 job messages wait for its pilot factory to start pilots (up to 40).',
        },
      ],
    });
  });

  it('says the task is paused', async () => {
    const { deps, taskId } = await setup();
    await deps.tasks.steer(taskId, { paused: true, at: DEFAULT_START });
    const why = await explainJob(deps, alice, taskId, 0);
    expect(codes(why.findings)).toEqual(['state', 'sent-to', 'task-paused', 'no-pilots']);
    expect(why.findings[2]?.message).toBe(
      'The task is paused by its owner: no job of it starts until it is resumed (gluon resume).',
    );
  });

  it('tells each attempt: where it ran and how it ended, and the retry queued with more memory', async () => {
    const { deps, taskId } = await setup();
    const pilotId = await addPilot(deps);
    await claimed(deps, pilotId, { taskId, jobIndex: 0, attempt: 1 });
    await complete(
      deps,
      pilotId,
      report({ taskId, jobIndex: 0, attempt: 1 }, PILOT_ERROR_CODES.MEMORY_EXCEEDED, { exitCode: 137 }),
    );
    await settleJobChanges(deps);
    const why = await explainJob(deps, alice, taskId, 0);
    expect(why).toMatchObject({ state: 'queued', attempt: 2, siteId: 'cern' });
    expect(why.findings.slice(0, 4)).toEqual([
      { code: 'state', message: 'Job 0 is queued (attempt 2).' },
      expect.objectContaining({ code: 'sent-to', siteId: 'cern' }),
      {
        code: 'attempt',
        siteId: 'cern',
        message: `Attempt 1 ran at cern on pilot ${pilotId} (wn001.example.org): failed, 1102 (payload exceeded its memory limit and was killed), exit code 137.`,
      },
      { code: 'attempt', siteId: 'cern', message: 'Attempt 2 is queued at cern, with memory 3000 MB.' },
    ]);
    // The retry's memory, not the spec's, is what the site's slots are held against.
    await addSite(deps, { siteId: 'cern', slot: { ...BIG_SLOT, memoryMB: 2500 }, maxPilots: 40 });
    expect((await explainJob(deps, alice, taskId, 0)).findings.at(-1)).toMatchObject({
      code: 'no-pilot-of-class',
      message: expect.stringContaining('needs 3000 MB memory, slots have 2500'),
    });
  });

  it("says no live pilot at the site can run the queued job's resource class, until one that can registers", async () => {
    const deps = inMemoryDeps();
    await addSite(deps, { siteId: 'cern', slot: BIG_SLOT, maxPilots: 40 });
    const taskId = await runningTask(deps, generationSpec(2, { resources: { memoryMB: 6000 } }));
    await addPilot(deps, 'cern', { cores: 1, memoryMB: 2000, diskMB: 10_000, walltimeLeftSec: 86_400 });
    await reapPilots(deps);
    expect((await explainJob(deps, alice, taskId, 0)).findings.at(-1)).toEqual({
      code: 'no-pilot-of-class',
      siteId: 'cern',
      message:
        "None of the 1 pilots at cern can run high-memory (over 2000 MB a core) jobs: the job waits in the site's himem queue (2 jobs) for a pilot that offers enough.",
    });
    await addPilot(deps, 'cern', { cores: 1, memoryMB: 8000, diskMB: 10_000, walltimeLeftSec: 86_400 });
    await reapPilots(deps);
    expect((await explainJob(deps, alice, taskId, 0)).findings.at(-1)?.code).toBe('pilots-idle');
  });

  it('says where a running job runs, with nothing pending', async () => {
    const { deps, taskId } = await setup();
    const pilotId = await addPilot(deps);
    await claimed(deps, pilotId, { taskId, jobIndex: 1, attempt: 1 });
    const why = await explainJob(deps, alice, taskId, 1);
    expect(codes(why.findings)).toEqual(['state', 'sent-to']);
    expect(why.findings[0]?.message).toBe(
      `Job 1 is running at cern on pilot ${pilotId} (wn001.example.org) since ${DEFAULT_START}.`,
    );
  });

  it('says a job not released yet waits for dispatch, and where its owner stands in fair share', async () => {
    const deps = inMemoryDeps();
    await addSite(deps, { siteId: 'cern', slot: BIG_SLOT, maxQueued: 2 });
    const { taskId } = await submitTask(deps, alice, generationSpec(5));
    await enqueueJobs(deps, taskId, (await splitTask(deps, taskId)).nextIndex);
    const why = await explainJob(deps, alice, taskId, 4);
    expect(why.state).toBe('defined');
    expect(why.findings[1]).toMatchObject({
      code: 'not-sent',
      message: expect.stringMatching(/^Job 4 waits for dispatch \(2 of 5 jobs of the task released so far\)/),
    });
    expect(why.findings.find((f) => f.code === 'fair-share')?.message).toMatch(
      /^Fair share: alice \(usage 2\.0 cores, decayed over 86400 s; an equal share of default\) is in default/,
    );
  });

  it("names every site's reason for a job no site can take (the task failed at its split)", async () => {
    const deps = inMemoryDeps();
    await addSite(deps, { siteId: 'down', slot: BIG_SLOT, status: 'offline' });
    await deps.sites.put(siteOf({ siteId: 'tiny', slot: { cores: 1, memoryMB: 100 } }));
    await deps.sites.put(siteOf({ siteId: 'plain', slot: BIG_SLOT }));
    const { taskId } = await submitTask(deps, alice, generationSpec(3, { resources: { tags: ['cvmfs'] } }));
    const error = await splitTask(deps, taskId).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NoSiteError);
    await failTask(deps, taskId, { Error: 'NoSiteError', Cause: (error as Error).message });
    expect((await explainJob(deps, alice, taskId, 2)).findings).toEqual([
      { code: 'state', message: 'Job 2 is defined.' },
      {
        code: 'no-site',
        message: `No site can take job 2 (brokerage at ${DEFAULT_START}): down: site is offline; plain: lacks tag cvmfs; tiny: needs 2000 MB memory, slots have 100.`,
      },
    ]);
  });

  it('says a task not brokered yet has no site for the job', async () => {
    const deps = inMemoryDeps();
    const { taskId } = await submitTask(deps, alice, generationSpec(1));
    expect((await explainJob(deps, alice, taskId, 0)).findings).toEqual([
      { code: 'state', message: 'Job 0 is defined.' },
      { code: 'not-brokered', message: 'The task is submitted: no site is chosen yet.' },
    ]);
  });

  it('appends the findings of a further source after the others', async () => {
    const { deps, taskId } = await setup();
    const shares: JobFindingSource = ({ job }) =>
      job.state === 'queued' ? [{ code: 'share-reached', message: "alice's share is used up." }] : [];
    const why = await explainJob(deps, alice, taskId, 0, [...JOB_FINDING_SOURCES, shares]);
    expect(codes(why.findings)).toEqual(['state', 'sent-to', 'no-pilots', 'share-reached']);
  });

  it("throws NotFoundError for another user's task and for a job the task does not have", async () => {
    const { deps, taskId } = await setup();
    await expect(explainJob(deps, bob, taskId, 0)).rejects.toBeInstanceOf(NotFoundError);
    await expect(explainJob(deps, alice, taskId, 2)).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('explainJob of a task with a budget', () => {
  it('says what the task spent, and once over budget that its jobs go to no paid site', async () => {
    const deps = inMemoryDeps();
    await addSite(deps, { siteId: 'cern', slot: BIG_SLOT, maxQueued: 1 });
    await addPaidSite(deps, 'cloud-a', { maxQueued: 1 });
    const taskId = await runningTask(deps, generationSpec(6, { budget: { usd: 0.5 } }));
    const budgetFinding = async (jobIndex: number) =>
      (await explainJob(deps, alice, taskId, jobIndex)).findings.filter((f) => f.code.endsWith('budget'));
    // Two jobs released (one per site's queue), nothing spent yet; job 5 waits for dispatch.
    expect(await budgetFinding(5)).toEqual([
      {
        code: 'budget',
        message:
          'Budget: $0.00 of $0.50 spent (+ $0.00 expected for 2 jobs in flight): its jobs may still go to its paid sites (cloud-a).',
      },
    ]);
    // An attempt of the task cost $0.30 at the paid site: with two in flight at that mean, over.
    await deps.accounting.record(costedUsage(taskId, 0.3, { state: 'failed', pilotErrorCode: 1001 }));
    expect(await budgetFinding(5)).toEqual([
      {
        code: 'over-budget',
        message:
          'Budget: $0.30 of $0.50 spent (+ $0.60 expected for 2 jobs in flight): its jobs go to no paid site (cloud-a) any more.',
      },
    ]);
    // A released job, queued at one of the sites, gets the finding too.
    expect((await budgetFinding(0)).map((f) => f.code)).toEqual(['over-budget']);
  });
});
