/**
 * End-to-end flows through the core alone: the task workflow's steps, pilots claiming the
 * messages of their site queue (each claim carrying the report of the attempt before), the
 * reaper, and the change feed consumer, all on the in-memory ports. After each flow the counts
 * kept from the change feed must equal the states the jobs are listed in.
 */
import { describe, expect, it, vi } from 'vitest';
import type { Report } from '#core/api/pilots.ts';
import { PilotGoneError } from '#core/errors.ts';
import { claimJob } from '#core/jobs/claim-job.ts';
import type { JobRef } from '#core/jobs/job.ts';
import { emptyJobCounts, type JobCounts } from '#core/jobs/job-counts.ts';
import type { JobMessage } from '#core/jobs/job-message.ts';
import { getJob, listJobs } from '#core/jobs/list-jobs.ts';
import { recordJobChanges } from '#core/jobs/record-job-changes.ts';
import type { PilotResources } from '#core/pilots/pilot.ts';
import { PILOT_ERROR_CODES, type PilotErrorCode } from '#core/pilots/pilot-error-codes.ts';
import { pilotHeartbeat } from '#core/pilots/pilot-heartbeat.ts';
import { reapPilots } from '#core/pilots/reap-pilots.ts';
import { cancelTask } from '#core/tasks/cancel-task.ts';
import { submitTask } from '#core/tasks/submit-task.ts';
import type { TaskSpec } from '#core/tasks/task-spec.ts';
import { type InMemoryDeps, inMemoryDeps, settleJobChanges } from '#test/support/in-memory-ports.ts';
import {
  addPilot,
  addSite,
  alice,
  BIG_PILOT,
  BIG_SLOT,
  claimOf,
  complete,
  countsOf,
  expireLeases,
  generationSpec,
  pilotToken,
  report,
  taskOf,
  Workflow,
} from './scenario.ts';

/** The site queues as pilots see them: each message is received once, first in first out. */
class Queues {
  private readonly deps: InMemoryDeps;

  constructor(deps: InMemoryDeps) {
    this.deps = deps;
  }

  receive(siteId: string): JobMessage | undefined {
    return this.deps.queue.receive(siteId);
  }
}

/**
 * A pilot as the pilot program behaves: it takes the next message of its site queue and claims
 * it with the report of the attempt it just ended (one call per job); it heartbeats its lease.
 */
class Pilot {
  readonly deps: InMemoryDeps;
  readonly siteId: string;
  readonly pilotId: string;
  current: JobRef | undefined;
  jobsRun = 0;

  private constructor(deps: InMemoryDeps, siteId: string, pilotId: string) {
    this.deps = deps;
    this.siteId = siteId;
    this.pilotId = pilotId;
  }

  static async start(
    deps: InMemoryDeps,
    siteId: string,
    resources: PilotResources = BIG_PILOT,
  ): Promise<Pilot> {
    return new Pilot(deps, siteId, await addPilot(deps, siteId, resources, `wn-${siteId}`));
  }

  /** Claims the next message of the queue, reporting `ended` with it; the outcome of the claim. */
  async next(queues: Queues, ended?: Report, resources: PilotResources = BIG_PILOT): Promise<string> {
    const message = queues.receive(this.siteId);
    if (message === undefined) {
      if (ended !== undefined) await this.finish(ended);
      return 'empty';
    }
    const response = await claimJob(
      this.deps,
      pilotToken(this.siteId),
      this.pilotId,
      claimOf(message.taskId, message.jobIndex, message.attempt, {
        resources,
        ...(message.sentAt === undefined ? {} : { sentAt: message.sentAt }),
        ...(ended === undefined ? {} : { report: ended }),
      }),
    );
    if (ended !== undefined) this.jobsRun += 1;
    const { taskId, jobIndex, attempt } = message;
    this.current = response.outcome === 'claimed' ? { taskId, jobIndex, attempt } : undefined;
    return response.outcome;
  }

  /** Reports the end of the current attempt on its own (no next claim). */
  async finish(ended: Report): Promise<string> {
    const response = await complete(this.deps, this.pilotId, ended, [], this.siteId);
    this.current = undefined;
    return response.outcome;
  }

  ended(code: PilotErrorCode = PILOT_ERROR_CODES.OK): Report {
    if (this.current === undefined) return expect.fail(`pilot ${this.pilotId} runs nothing`);
    return report(this.current, code);
  }

  async heartbeat() {
    return pilotHeartbeat(
      { leases: this.deps.leases, clock: this.deps.clock, leaseSec: this.deps.settings.leaseSec },
      this.pilotId,
      {
        state: this.current === undefined ? 'idle' : 'busy',
        held: this.current === undefined ? [] : [this.current],
        jobsRun: this.jobsRun,
      },
    );
  }
}

/** Counts from the change feed must equal the states the jobs are listed in. */
async function expectCountsExact(
  deps: InMemoryDeps,
  taskId: string,
  counts: Partial<JobCounts>,
): Promise<void> {
  const expected = { ...emptyJobCounts(), ...counts };
  expect(await countsOf(deps, taskId)).toEqual(expected);
  const listed = emptyJobCounts();
  let nextToken: string | undefined;
  do {
    const page = await listJobs(deps, alice, taskId, {
      limit: 100,
      ...(nextToken === undefined ? {} : { nextToken }),
    });
    for (const job of page.items) listed[job.state] += 1;
    nextToken = page.nextToken;
  } while (nextToken !== undefined);
  expect(listed).toEqual(expected);
}

async function start(spec: TaskSpec, settings = {}) {
  const deps = inMemoryDeps({ settings });
  await addSite(deps, { siteId: 'bnl', slot: BIG_SLOT });
  await addSite(deps, { siteId: 'cern', slot: BIG_SLOT });
  const { taskId } = await submitTask(deps, alice, spec);
  const workflow = new Workflow(deps, taskId);
  await workflow.startUntilWait();
  return { deps, taskId, workflow, queues: new Queues(deps) };
}

describe('a task from submission to done', () => {
  it('is split, enqueued, claimed by pilots at both sites, counted exactly, released and finalized done', async () => {
    const { deps, taskId, workflow, queues } = await start(generationSpec(6));
    expect(await taskOf(deps, taskId)).toMatchObject({
      state: 'running',
      jobsEnqueued: 6,
      siteIds: ['bnl', 'cern'],
    });
    expect(deps.queue.sent.map((m) => [m.jobIndex, m.siteId])).toEqual([
      [0, 'bnl'],
      [1, 'cern'],
      [2, 'bnl'],
      [3, 'cern'],
      [4, 'bnl'],
      [5, 'cern'],
    ]);
    expect(await deps.jobs.list(taskId, 0, 10)).toEqual({ records: [], more: false });
    await expectCountsExact(deps, taskId, { queued: 6 });

    const bnl = await Pilot.start(deps, 'bnl');
    const cern = await Pilot.start(deps, 'cern');
    expect(await bnl.next(queues)).toBe('claimed');
    expect(await cern.next(queues)).toBe('claimed');
    await settleJobChanges(deps);
    await expectCountsExact(deps, taskId, { queued: 4, running: 2 });

    // Each pilot reports the job it ran with the claim of its next one, then reports the last alone.
    for (const pilot of [bnl, cern, bnl, cern])
      expect(await pilot.next(queues, pilot.ended())).toBe('claimed');
    await settleJobChanges(deps);
    await expectCountsExact(deps, taskId, { running: 2, finished: 4 });
    expect(workflow.release()).toBeUndefined();

    expect(await bnl.next(queues, bnl.ended())).toBe('empty');
    expect(await cern.finish(cern.ended())).toBe('recorded');
    expect(await settleJobChanges(deps)).toMatchObject({ dispatched: 0, released: 1 });
    await expectCountsExact(deps, taskId, { finished: 6 });
    expect(workflow.release()).toEqual({ taskId, sweep: false });
    expect(await workflow.afterRelease()).toBe('done');
    expect((await taskOf(deps, taskId)).history.map((h) => h.state)).toEqual([
      'submitted',
      'splitting',
      'running',
      'done',
    ]);
    expect((await deps.leases.get(bnl.pilotId))?.jobs).toEqual([]);
  });
});

describe('a job killed for memory', () => {
  it('is retried as attempt 2 with more memory, unfit for a pilot too small, and finishes on a bigger one', async () => {
    const spec = generationSpec(1, { resources: { memoryMB: 1000 }, retry: { memoryFactor: 2 } });
    const { deps, taskId, workflow, queues } = await start(spec);
    const pilot = await Pilot.start(deps, 'bnl');
    expect(await pilot.next(queues)).toBe('claimed');
    expect(await pilot.finish(pilot.ended(PILOT_ERROR_CODES.MEMORY_EXCEEDED))).toBe('recorded');
    expect(deps.queue.sent).toHaveLength(1);
    expect(await settleJobChanges(deps)).toMatchObject({ dispatched: 1, archived: 1 });
    expect(deps.queue.sent.at(-1)).toMatchObject({ taskId, jobIndex: 0, attempt: 2, siteId: 'bnl' });
    await expectCountsExact(deps, taskId, { queued: 1 });

    const small = { ...BIG_PILOT, memoryMB: 1500 };
    expect(await pilot.next(queues, undefined, small)).toBe('unfit');
    // Unfit leaves the message in the queue for others: it comes back.
    deps.queue.sent.push({ ...(deps.queue.sent.at(-1) as JobMessage) });
    expect(await pilot.next(queues)).toBe('claimed');
    expect(pilot.current).toMatchObject({ attempt: 2 });
    await pilot.finish(pilot.ended());
    await settleJobChanges(deps);
    await expectCountsExact(deps, taskId, { finished: 1 });
    expect(await workflow.afterRelease()).toBe('done');

    const job = await getJob(deps, alice, taskId, 0);
    expect(job).toMatchObject({ state: 'finished', attempt: 2, resources: { memoryMB: 2000 } });
    expect(job.attempts?.map((a) => [a.attempt, a.state, a.pilotErrorCode, a.resources])).toEqual([
      [1, 'failed', PILOT_ERROR_CODES.MEMORY_EXCEEDED, undefined],
      [2, 'finished', 0, { memoryMB: 2000 }],
    ]);
  });
});

describe('a pilot that vanishes', () => {
  it('is declared lost by the reaper: its jobs run again elsewhere and the zombie is fenced', async () => {
    const { deps, taskId, workflow, queues } = await start(generationSpec(2));
    const lost = await Pilot.start(deps, 'bnl');
    const other = await Pilot.start(deps, 'cern');
    expect(await lost.next(queues)).toBe('claimed');
    expect(await other.next(queues)).toBe('claimed');
    await other.finish(other.ended());

    // The lost pilot stops heartbeating; the other one goes on.
    deps.clock.advance(deps.settings.leaseSec * 1000 - 1);
    await other.heartbeat();
    deps.clock.advance(2);
    expect(await reapPilots(deps)).toMatchObject({ pilotsLost: 1, jobsRequeued: 1, pilotsLive: 1 });
    expect(await settleJobChanges(deps)).toMatchObject({ dispatched: 1, archived: 1 });
    await expectCountsExact(deps, taskId, { queued: 1, finished: 1 });

    // The zombie comes back: its heartbeat says gone, its report is stale, its claims are refused.
    expect(await lost.heartbeat()).toEqual({ pilot: 'gone' });
    expect(await lost.finish(lost.ended())).toBe('stale');
    await expect(claimJob(deps, pilotToken('bnl'), lost.pilotId, claimOf(taskId, 1))).rejects.toBeInstanceOf(
      PilotGoneError,
    );

    const rescue = await Pilot.start(deps, 'bnl');
    expect(await rescue.next(queues)).toBe('claimed');
    expect(rescue.current).toMatchObject({ jobIndex: 0, attempt: 2 });
    await rescue.finish(rescue.ended());
    await settleJobChanges(deps);
    await expectCountsExact(deps, taskId, { finished: 2 });
    expect(await workflow.afterRelease()).toBe('done');
    const job = await getJob(deps, alice, taskId, 0);
    expect(job.attempts?.map((a) => [a.attempt, a.pilotId, a.state])).toEqual([
      [1, lost.pilotId, 'lost'],
      [2, rescue.pilotId, 'finished'],
    ]);
  });

  it('mid-claim leaves a lease the reaper follows: the claim is fenced and the job runs as attempt 2', async () => {
    const { deps, taskId, workflow, queues } = await start(generationSpec(1));
    const vanished = await Pilot.start(deps, 'bnl');
    vi.spyOn(deps.jobs, 'update').mockRejectedValueOnce(new Error('connection reset'));
    await expect(vanished.next(queues)).rejects.toThrow('connection reset');
    expireLeases(deps);
    expect(await reapPilots(deps)).toMatchObject({ pilotsLost: 1, claimsAbandoned: 1 });
    await settleJobChanges(deps);

    const other = await Pilot.start(deps, 'bnl');
    // The first message comes back (never acknowledged): its attempt is fenced.
    deps.queue.sent.push({ ...(deps.queue.sent[0] as JobMessage) });
    expect(await other.next(queues)).toBe('claimed');
    expect(other.current).toMatchObject({ attempt: 2 });
    expect(await other.next(queues, other.ended())).toBe('stale');
    await settleJobChanges(deps);
    await expectCountsExact(deps, taskId, { finished: 1 });
    expect(await workflow.afterRelease()).toBe('done');
    expect((await getJob(deps, alice, taskId, 0)).attempts?.map((a) => [a.state, a.pilotErrorCode])).toEqual([
      ['abandoned', PILOT_ERROR_CODES.CLAIM_ABANDONED],
      ['finished', 0],
    ]);
  });
});

describe('a claim whose answer was lost', () => {
  it('is given back by the pilot when its heartbeat names it, and runs as attempt 2 without using the budget', async () => {
    const { deps, taskId, workflow, queues } = await start(generationSpec(1, { maxAttempts: 1 }));
    const pilot = await Pilot.start(deps, 'bnl');
    await pilot.next(queues);
    const lostAnswer = pilot.current;
    pilot.current = undefined;
    const beat = await pilot.heartbeat();
    expect(beat).toEqual({ pilot: 'live', jobs: [], unknown: [lostAnswer] });
    const abandoned = report(lostAnswer ?? expect.fail('claimed'), PILOT_ERROR_CODES.CLAIM_ABANDONED);
    expect(await pilot.finish(abandoned)).toBe('recorded');
    await settleJobChanges(deps);
    await expectCountsExact(deps, taskId, { queued: 1 });
    expect(await pilot.next(queues)).toBe('claimed');
    expect(pilot.current).toMatchObject({ attempt: 2 });
    await pilot.finish(pilot.ended());
    await settleJobChanges(deps);
    expect(await workflow.afterRelease()).toBe('done');
  });
});

describe('a task cancelled while its jobs run', () => {
  it('answers at once, sweeps kills into the leases, refuses new claims and ends cancelled when no job runs', async () => {
    const { deps, taskId, workflow, queues } = await start(generationSpec(4));
    const bnl = await Pilot.start(deps, 'bnl');
    const cern = await Pilot.start(deps, 'cern');
    expect(await bnl.next(queues)).toBe('claimed'); // job 0
    expect(await cern.next(queues)).toBe('claimed'); // job 1
    expect(await bnl.next(queues, bnl.ended())).toBe('claimed'); // job 0 finished, job 2 runs
    await settleJobChanges(deps);
    await expectCountsExact(deps, taskId, { queued: 1, running: 2, finished: 1 });

    expect(await cancelTask(deps, alice, taskId)).toEqual({
      taskId,
      state: 'running',
      cancelRequested: true,
    });
    expect(workflow.release()).toEqual({ taskId, sweep: true });
    await expectCountsExact(deps, taskId, { running: 2, finished: 1, cancelled: 1 });
    expect(await workflow.afterRelease()).toBe('waiting');
    expect((await taskOf(deps, taskId)).cancelSwept).toBe(true);

    // bnl hears of the kill at its heartbeat; cern finishes its job before it hears anything.
    expect(await bnl.heartbeat()).toMatchObject({ jobs: [{ jobIndex: 2, action: 'kill-cancelled' }] });
    expect(await bnl.finish(bnl.ended(PILOT_ERROR_CODES.CANCELLED))).toBe('recorded');
    expect(await cern.next(queues, cern.ended())).toBe('cancelled'); // job 3 is refused
    expect((await deps.leases.get(bnl.pilotId))?.kill).toEqual([]);

    await settleJobChanges(deps);
    await expectCountsExact(deps, taskId, { finished: 2, cancelled: 2 });
    expect(workflow.release()).toEqual({ taskId, sweep: false });
    expect(await workflow.afterRelease()).toBe('cancelled');
    expect(await taskOf(deps, taskId)).toMatchObject({
      state: 'cancelled',
      reason: '2 finished, 0 failed, 2 cancelled of 4',
    });
  });

  it('ends cancelled after one sweep when no job has started', async () => {
    const { deps, taskId, workflow } = await start(generationSpec(3));
    await cancelTask(deps, alice, taskId);
    expect(workflow.release()).toEqual({ taskId, sweep: true });
    expect(await workflow.afterRelease()).toBe('cancelled');
    await expectCountsExact(deps, taskId, { cancelled: 3 });
  });
});

describe('changes delivered more than once', () => {
  it('are counted once, whatever the redeliveries, and release the wait at least once', async () => {
    const { deps, taskId, workflow, queues } = await start(generationSpec(3, { maxAttempts: 2 }));
    const pilot = await Pilot.start(deps, 'bnl');
    const cern = await Pilot.start(deps, 'cern');
    await pilot.next(queues);
    await cern.next(queues);
    await pilot.next(queues, pilot.ended(PILOT_ERROR_CODES.PAYLOAD_FAILED));
    await cern.finish(cern.ended());
    await pilot.finish(pilot.ended());
    await settleJobChanges(deps);
    await pilot.next(queues);
    await pilot.finish(pilot.ended());

    const changes = deps.jobs.takeChanges();
    // A batch cut short, then the whole stream delivered again, then once more.
    await recordJobChanges(deps, changes.slice(0, 1));
    await recordJobChanges(deps, changes);
    await recordJobChanges(deps, changes);
    await expectCountsExact(deps, taskId, { finished: 3 });
    expect(await deps.jobs.attempts(taskId, 0)).toHaveLength(1);
    expect(workflow.release()).toEqual({ taskId, sweep: false });
    expect(deps.workflow.releases.every((r) => r.token === workflow.token)).toBe(true);
    expect(await workflow.afterRelease()).toBe('done');
  });

  it('are counted once when a claim and a report are replayed by their pilot', async () => {
    const { deps, taskId, queues } = await start(generationSpec(2));
    const pilot = await Pilot.start(deps, 'bnl');
    await pilot.next(queues);
    const ref = pilot.current ?? expect.fail('claimed');
    const claim = claimOf(ref.taskId, ref.jobIndex, ref.attempt);
    expect((await claimJob(deps, pilotToken('bnl'), pilot.pilotId, claim)).outcome).toBe('claimed');
    const ended = pilot.ended();
    await pilot.finish(ended);
    expect(await pilot.finish(ended)).toBe('recorded');
    await settleJobChanges(deps);
    await settleJobChanges(deps);
    await expectCountsExact(deps, taskId, { queued: 1, finished: 1 });
  });
});
