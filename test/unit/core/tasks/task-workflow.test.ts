import { describe, expect, it, vi } from 'vitest';
import { NoSiteError, NotFoundError } from '#core/errors.ts';
import type { JobRef } from '#core/jobs/job.ts';
import { emptyJobCounts } from '#core/jobs/job-counts.ts';
import { PILOT_ERROR_CODES, type PilotErrorCode } from '#core/pilots/pilot-error-codes.ts';
import { dispatchJobs } from '#core/policies/dispatch-jobs.ts';
import { submitTask } from '#core/tasks/submit-task.ts';
import {
  cancelJobs,
  describeError,
  enqueueJobs,
  failTask,
  finalizeTask,
  splitTask,
  waitForJobs,
} from '#core/tasks/task-workflow.ts';
import {
  DEFAULT_START,
  type InMemoryDeps,
  inMemoryDeps,
  settleJobChanges,
} from '#test/support/in-memory-ports.ts';
import {
  addPilot,
  addSite,
  alice,
  BIG_PILOT,
  BIG_SLOT,
  claimed,
  complete,
  generationSpec,
  jobRef,
  leaseOf,
  report,
  runningTask,
  taskOf,
} from '../scenario.ts';

const LATER = '2026-01-01T00:10:00.000Z';

/** A task of `jobs` jobs for two sites, whose queues hold `maxQueued` jobs each (when given). */
async function submitted(jobs = 5, maxQueued?: number): Promise<{ deps: InMemoryDeps; taskId: string }> {
  const deps = inMemoryDeps();
  await addSite(deps, { siteId: 'bnl', slot: BIG_SLOT, ...(maxQueued === undefined ? {} : { maxQueued }) });
  await addSite(deps, { siteId: 'cern', slot: BIG_SLOT, ...(maxQueued === undefined ? {} : { maxQueued }) });
  const { taskId } = await submitTask(deps, alice, generationSpec(jobs));
  return { deps, taskId };
}

describe('splitTask', () => {
  it('moves a submitted task to splitting with the sites brokerage chose', async () => {
    const { deps, taskId } = await submitted();
    await addSite(deps, { siteId: 'down', status: 'offline', slot: BIG_SLOT });
    expect(await splitTask(deps, taskId)).toEqual({ nextIndex: 0, done: false, eventService: false });
    const task = await taskOf(deps, taskId);
    expect(task).toMatchObject({ state: 'splitting', siteIds: ['bnl', 'cern'], jobCount: 5 });
    expect(task.history.map((h) => h.state)).toEqual(['submitted', 'splitting']);
  });

  it('throws NoSiteError naming every site and its reason when no site fits, and leaves the task submitted', async () => {
    const deps = inMemoryDeps();
    await addSite(deps, { siteId: 'down', status: 'offline', slot: BIG_SLOT });
    await addSite(deps, { siteId: 'small' });
    const { taskId } = await submitTask(deps, alice, generationSpec(2, { resources: { cores: 4 } }));
    await expect(splitTask(deps, taskId)).rejects.toThrow(
      new NoSiteError(
        'no site can run the jobs: down (site is offline), small (needs 4 cores, slots have 1)',
      ),
    );
    expect((await taskOf(deps, taskId)).state).toBe('submitted');
    // Stored first, so that the task that fails for it keeps every site's reason.
    expect((await deps.tasks.getBrokerage(taskId))?.rejected.map((r) => [r.siteId, r.filter])).toEqual([
      ['down', 'status'],
      ['small', 'resources'],
    ]);
  });

  it('stores the decision and the shares of the sites it chose with the task', async () => {
    const { deps, taskId } = await submitted();
    await addSite(deps, { siteId: 'cern', slot: BIG_SLOT, maxPilots: 300 });
    await addSite(deps, { siteId: 'down', status: 'offline', slot: BIG_SLOT });
    await splitTask(deps, taskId);
    expect(await taskOf(deps, taskId)).toMatchObject({ siteIds: ['bnl', 'cern'], siteShares: [250, 750] });
    expect(await deps.tasks.getBrokerage(taskId)).toEqual({
      at: DEFAULT_START,
      sitesConsidered: 3,
      chosen: [
        expect.objectContaining({ siteId: 'bnl', weight: 0.25, share: 250 }),
        expect.objectContaining({ siteId: 'cern', weight: 0.75, share: 750 }),
      ],
      rejected: [
        { siteId: 'down', filter: 'status', reason: 'site is offline', details: { status: 'offline' } },
      ],
      waived: [],
    });
  });

  it('reads the queue depth of the sites that could run the jobs, and weighs them by it', async () => {
    const { deps, taskId } = await submitted();
    await addSite(deps, { siteId: 'down', status: 'offline', slot: BIG_SLOT });
    const depth = vi.spyOn(deps.queue, 'depth');
    // bnl has half a round of its 100 pilots queued already: two thirds of the weight of cern.
    await deps.queue.send(
      Array.from({ length: 50 }, (_, jobIndex) => ({
        v: 1 as const,
        taskId: 't-other',
        jobIndex,
        attempt: 1,
        siteId: 'bnl',
        sentAt: 0,
      })),
    );
    await splitTask(deps, taskId);
    expect(depth.mock.calls.map(([siteId]) => siteId).sort()).toEqual(['bnl', 'cern']);
    expect((await taskOf(deps, taskId)).siteShares).toEqual([400, 600]);
  });

  it('throws NoSiteError when no site is defined', async () => {
    const deps = inMemoryDeps();
    const { taskId } = await submitTask(deps, alice, generationSpec(2));
    await expect(splitTask(deps, taskId)).rejects.toThrow(new NoSiteError('no site is defined'));
  });

  it('resumes where enqueueing stopped when run again, brokering once', async () => {
    const { deps, taskId } = await submitted(5, 1);
    await splitTask(deps, taskId);
    await enqueueJobs(deps, taskId, 0);
    expect(await splitTask(deps, taskId)).toEqual({ nextIndex: 2, done: false, eventService: false });
    expect((await taskOf(deps, taskId)).history.filter((h) => h.state === 'splitting')).toHaveLength(1);
  });

  it('says done at once for a cancelled task, without brokerage', async () => {
    const { deps, taskId } = await submitted();
    await deps.tasks.requestCancel(taskId, DEFAULT_START);
    expect(await splitTask(deps, taskId)).toEqual({ nextIndex: 0, done: true, eventService: false });
    expect((await taskOf(deps, taskId)).state).toBe('submitted');
  });

  it('throws NotFoundError for an unknown task', async () => {
    await expect(splitTask(inMemoryDeps(), 't-999999')).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('enqueueJobs', () => {
  it('hands the task to dispatch, which releases what the site queues have room for, spread over the sites, writing no job', async () => {
    const { deps, taskId } = await submitted(5, 2);
    await splitTask(deps, taskId);
    expect(await enqueueJobs(deps, taskId, 0)).toEqual({ nextIndex: 5, done: true });
    const sentAt = Date.parse(DEFAULT_START);
    const needs = { cores: 1, memoryMB: 2000 };
    expect(deps.queue.sent).toEqual([
      { v: 1, taskId, jobIndex: 0, attempt: 1, siteId: 'bnl', sentAt, needs },
      { v: 1, taskId, jobIndex: 1, attempt: 1, siteId: 'cern', sentAt, needs },
      { v: 1, taskId, jobIndex: 2, attempt: 1, siteId: 'bnl', sentAt, needs },
      { v: 1, taskId, jobIndex: 3, attempt: 1, siteId: 'cern', sentAt, needs },
    ]);
    expect(await deps.jobs.list(taskId, 0, 10)).toEqual({ records: [], more: false });
    expect(deps.jobs.takeChanges()).toEqual([]);
    expect(await deps.policies.listActive()).toEqual([
      expect.objectContaining({
        taskId,
        owner: alice.sub,
        jobCount: 5,
        released: 4,
        siteIds: ['bnl', 'cern'],
      }),
    ]);
  });

  it('records the progress and moves the task to running; later rounds release the rest as pilots take messages', async () => {
    const { deps, taskId } = await submitted(5, 2);
    await splitTask(deps, taskId);
    await enqueueJobs(deps, taskId, 0);
    expect(await taskOf(deps, taskId)).toMatchObject({ state: 'running', jobsEnqueued: 4 });
    expect((await taskOf(deps, taskId)).counts).toEqual({ ...emptyJobCounts(), queued: 4, defined: 1 });
    expect((await dispatchJobs(deps)).released).toEqual({});
    deps.queue.receive('cern');
    expect((await dispatchJobs(deps)).released).toEqual({ cern: 1 });
    expect(deps.queue.sent.at(-1)).toMatchObject({ jobIndex: 4, siteId: 'cern' });
    expect(await taskOf(deps, taskId)).toMatchObject({ state: 'running', jobsEnqueued: 5 });
    expect((await taskOf(deps, taskId)).history.map((h) => h.state)).toEqual([
      'submitted',
      'splitting',
      'running',
    ]);
  });

  it('keeps the progress when replayed', async () => {
    const { deps, taskId } = await submitted(5, 2);
    await splitTask(deps, taskId);
    await enqueueJobs(deps, taskId, 0);
    expect(await enqueueJobs(deps, taskId, 0)).toEqual({ nextIndex: 5, done: true });
    expect(deps.queue.sent.map((m) => m.jobIndex)).toEqual([0, 1, 2, 3]);
    expect((await taskOf(deps, taskId)).jobsEnqueued).toBe(4);
    expect((await deps.policies.listActive())[0]?.released).toBe(4);
  });

  it('stops at once, sending nothing, when the task was cancelled', async () => {
    const { deps, taskId } = await submitted(5, 3);
    await splitTask(deps, taskId);
    await deps.tasks.requestCancel(taskId, DEFAULT_START);
    expect(await enqueueJobs(deps, taskId, 0)).toEqual({ nextIndex: 0, done: true });
    expect(deps.queue.sent).toEqual([]);
  });

  it('throws NoSiteError for a task that was never brokered', async () => {
    const { deps, taskId } = await submitted();
    await expect(enqueueJobs(deps, taskId, 0)).rejects.toBeInstanceOf(NoSiteError);
    expect(deps.queue.sent).toEqual([]);
  });
});

describe('waitForJobs', () => {
  it('stores the token and waits while jobs are left', async () => {
    const deps = inMemoryDeps();
    await addSite(deps);
    const taskId = await runningTask(deps, generationSpec(2));
    await waitForJobs(deps, taskId, 'wait-1');
    expect(deps.workflow.releases).toEqual([]);
    expect((await deps.tasks.getProgress(taskId))?.waitToken).toBe('wait-1');
  });

  it('releases the wait at once when every job is final already', async () => {
    const deps = inMemoryDeps();
    await addSite(deps);
    const taskId = await runningTask(deps, generationSpec(1));
    const pilotId = await addPilot(deps);
    const only = { taskId, jobIndex: 0, attempt: 1 };
    await claimed(deps, pilotId, only);
    await complete(deps, pilotId, report(only));
    await settleJobChanges(deps);
    await waitForJobs(deps, taskId, 'wait-1');
    expect(deps.workflow.releases).toEqual([{ token: 'wait-1', output: { taskId, sweep: false } }]);
  });

  it('releases the wait at once with a sweep when the task was cancelled with jobs running', async () => {
    const deps = inMemoryDeps();
    await addSite(deps);
    const taskId = await runningTask(deps, generationSpec(2));
    const pilotId = await addPilot(deps);
    await claimed(deps, pilotId, { taskId, jobIndex: 0, attempt: 1 });
    await settleJobChanges(deps);
    await deps.tasks.requestCancel(taskId, DEFAULT_START);
    await waitForJobs(deps, taskId, 'wait-1');
    expect(deps.workflow.releases).toEqual([{ token: 'wait-1', output: { taskId, sweep: true } }]);
  });

  it('throws NotFoundError for an unknown task', async () => {
    await expect(waitForJobs(inMemoryDeps(), 't-999999', 'x')).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('cancelJobs', () => {
  async function running(jobs: number) {
    const deps = inMemoryDeps();
    await addSite(deps);
    const taskId = await runningTask(deps, generationSpec(jobs));
    const a = await addPilot(deps);
    const b = await addPilot(deps, 'cern', BIG_PILOT, 'wn002.example.org');
    return { deps, taskId, a, b };
  }

  it('tells the pilot of every running job, through its lease, to kill it, and marks the task swept', async () => {
    const { deps, taskId, a, b } = await running(4);
    const [job0, job1, job2, job3] = [0, 1, 2, 3].map((jobIndex) => jobRef(taskId, jobIndex)) as [
      JobRef,
      JobRef,
      JobRef,
      JobRef,
    ];
    await claimed(deps, a, job0);
    await claimed(deps, a, job1, { holds: [job0] });
    await claimed(deps, b, job2);
    await complete(deps, b, report(job2));
    await claimed(deps, b, job3);
    await deps.tasks.requestCancel(taskId, LATER);
    deps.clock.set(LATER);
    expect(await cancelJobs(deps, taskId, 0)).toEqual({ nextIndex: 0, done: true });
    expect((await leaseOf(deps, a)).kill).toEqual([`${taskId}.0.1|cancelled`, `${taskId}.1.1|cancelled`]);
    expect((await leaseOf(deps, b)).kill).toEqual([`${taskId}.3.1|cancelled`]);
    expect(await taskOf(deps, taskId)).toMatchObject({ cancelSwept: true, updatedAt: LATER });
  });

  it('writes one kill list per pilot, whatever the number of its jobs', async () => {
    const { deps, taskId, a } = await running(3);
    let holds: Array<{ taskId: string; jobIndex: number; attempt: number }> = [];
    for (const jobIndex of [0, 1, 2]) {
      const ref = { taskId, jobIndex, attempt: 1 };
      await claimed(deps, a, ref, { holds });
      holds = [...holds, ref];
    }
    const addKills = vi.spyOn(deps.leases, 'addKills');
    await cancelJobs(deps, taskId, 0);
    expect(addKills).toHaveBeenCalledTimes(1);
  });

  it('needs nothing for queued jobs or jobs without a record: their claims are refused', async () => {
    const { deps, taskId, a } = await running(2);
    const job0 = { taskId, jobIndex: 0, attempt: 1 };
    await claimed(deps, a, job0);
    await complete(deps, a, report(job0, PILOT_ERROR_CODES.EVICTED));
    const addKills = vi.spyOn(deps.leases, 'addKills');
    expect(await cancelJobs(deps, taskId, 0)).toEqual({ nextIndex: 0, done: true });
    expect(addKills).not.toHaveBeenCalled();
    expect((await taskOf(deps, taskId)).cancelSwept).toBe(true);
  });

  it('goes through the records a page at a time, marking the task swept after the last page', async () => {
    const deps = inMemoryDeps();
    await addSite(deps, { siteId: 'cern', slot: BIG_SLOT, maxQueued: 10_000 });
    const taskId = await runningTask(deps, generationSpec(5002));
    for (let jobIndex = 0; jobIndex < 5002; jobIndex++) {
      await deps.jobs.update(
        { taskId, jobIndex },
        {
          set: {
            state: 'running',
            attempt: 1,
            failures: 0,
            siteId: 'cern',
            pilotId: `p-${String(jobIndex % 2).padStart(6, '0')}`,
            updatedAt: LATER,
          },
        },
        ['absent'],
      );
    }
    const addKills = vi.spyOn(deps.leases, 'addKills');
    expect(await cancelJobs(deps, taskId, 0)).toEqual({ nextIndex: 5000, done: false });
    expect((await taskOf(deps, taskId)).cancelSwept).toBe(false);
    expect(addKills.mock.calls.map(([, entries]) => entries.length)).toEqual([2500, 2500]);
    addKills.mockClear();
    expect(await cancelJobs(deps, taskId, 5000)).toEqual({ nextIndex: 0, done: true });
    expect(addKills.mock.calls.flatMap(([, entries]) => entries)).toEqual([
      `${taskId}.5000.1|cancelled`,
      `${taskId}.5001.1|cancelled`,
    ]);
    expect((await taskOf(deps, taskId)).cancelSwept).toBe(true);
  });
});

describe('finalizeTask', () => {
  /** A task of one job per code, each job ended with its code (none run when the task is cancelled). */
  async function ended(codes: PilotErrorCode[], options: { cancel?: boolean } = {}) {
    const deps = inMemoryDeps();
    await addSite(deps);
    const taskId = await runningTask(deps, generationSpec(codes.length, { maxAttempts: 1 }));
    const pilotId = await addPilot(deps);
    if (options.cancel) await deps.tasks.requestCancel(taskId, DEFAULT_START);
    else {
      for (const [jobIndex, code] of codes.entries()) {
        const ref = { taskId, jobIndex, attempt: 1 };
        await claimed(deps, pilotId, ref);
        await complete(deps, pilotId, report(ref, code));
      }
    }
    await settleJobChanges(deps);
    deps.clock.set(LATER);
    return { deps, taskId };
  }

  it('ends the task done when every job finished', async () => {
    const { deps, taskId } = await ended([PILOT_ERROR_CODES.OK, PILOT_ERROR_CODES.OK]);
    expect(await finalizeTask(deps, taskId)).toEqual({ state: 'done' });
    const task = await taskOf(deps, taskId);
    expect(task).toMatchObject({ state: 'done', endedAt: LATER });
    expect(task.reason).toBeUndefined();
  });

  it('ends the task partial, saying how its jobs ended, when some failed', async () => {
    const { deps, taskId } = await ended([
      PILOT_ERROR_CODES.OK,
      PILOT_ERROR_CODES.PAYLOAD_FAILED,
      PILOT_ERROR_CODES.OK,
    ]);
    expect(await finalizeTask(deps, taskId)).toEqual({ state: 'partial' });
    expect((await taskOf(deps, taskId)).reason).toBe('2 finished, 1 failed, 0 cancelled of 3');
  });

  it('ends the task failed when no job finished', async () => {
    const { deps, taskId } = await ended([PILOT_ERROR_CODES.PAYLOAD_FAILED]);
    expect(await finalizeTask(deps, taskId)).toEqual({ state: 'failed' });
    expect((await taskOf(deps, taskId)).reason).toBe('0 finished, 1 failed, 0 cancelled of 1');
  });

  it('ends a cancelled task cancelled', async () => {
    const { deps, taskId } = await ended([PILOT_ERROR_CODES.OK, PILOT_ERROR_CODES.OK], { cancel: true });
    expect(await finalizeTask(deps, taskId)).toEqual({ state: 'cancelled' });
    expect((await taskOf(deps, taskId)).reason).toBe('0 finished, 0 failed, 2 cancelled of 2');
  });

  it('answers the state of a task already final (a replayed step), changing nothing', async () => {
    const { deps, taskId } = await ended([PILOT_ERROR_CODES.OK]);
    await finalizeTask(deps, taskId);
    const task = await taskOf(deps, taskId);
    expect(await finalizeTask(deps, taskId)).toEqual({ state: 'done' });
    expect(await taskOf(deps, taskId)).toEqual(task);
  });

  it('throws NotFoundError for an unknown task', async () => {
    await expect(finalizeTask(inMemoryDeps(), 't-999999')).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('failTask', () => {
  it('fails the task with the error that stopped its workflow', async () => {
    const { deps, taskId } = await submitted();
    const error = { Error: 'NoSiteError', Cause: JSON.stringify({ errorMessage: 'no site is defined' }) };
    expect(await failTask(deps, taskId, error)).toEqual({ state: 'failed' });
    expect(await taskOf(deps, taskId)).toMatchObject({
      state: 'failed',
      reason: 'NoSiteError: no site is defined',
    });
  });

  it('ends a cancelled task cancelled rather than failed', async () => {
    const { deps, taskId } = await submitted();
    await deps.tasks.requestCancel(taskId, DEFAULT_START);
    expect(await failTask(deps, taskId, undefined)).toEqual({ state: 'cancelled' });
    expect(await taskOf(deps, taskId)).toMatchObject({
      state: 'cancelled',
      reason: 'cancelled by its owner',
    });
  });

  it('leaves a final task as it is', async () => {
    const { deps, taskId } = await submitted();
    await failTask(deps, taskId, { Error: 'First' });
    expect(await failTask(deps, taskId, { Error: 'Second' })).toEqual({ state: 'failed' });
    expect((await taskOf(deps, taskId)).reason).toBe('First');
  });
});

describe('describeError', () => {
  it('takes the message of a Lambda error out of its JSON cause', () => {
    expect(describeError({ Error: 'Error', Cause: '{"errorMessage":"boom","errorType":"Error"}' })).toBe(
      'Error: boom',
    );
  });

  it('keeps a cause that is plain text', () => {
    expect(describeError({ Error: 'States.Timeout', Cause: 'took too long' })).toBe(
      'States.Timeout: took too long',
    );
  });

  it('says the workflow failed when it knows nothing more', () => {
    expect(describeError(undefined)).toBe('the task workflow failed');
    expect(describeError({})).toBe('the task workflow failed');
    expect(describeError({ Cause: '' })).toBe('the task workflow failed');
  });
});
