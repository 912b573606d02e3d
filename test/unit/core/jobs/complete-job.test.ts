import { describe, expect, it } from 'vitest';
import { claimJob } from '#core/jobs/claim-job.ts';
import { attemptResult, completeJob, recordReport } from '#core/jobs/complete-job.ts';
import { killEntry } from '#core/pilots/pilot.ts';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import { reapPilots } from '#core/pilots/reap-pilots.ts';
import { inMemoryDeps } from '#test/support/in-memory-ports.ts';
import {
  addPilot,
  addSite,
  BIG_PILOT,
  claimed,
  claimOf,
  complete,
  expireLeases,
  generationSpec,
  leaseOf,
  pilotToken,
  recordOf,
  report,
  runningTask,
  USAGE,
} from '../scenario.ts';

const token = pilotToken('cern');
const ENDED_AT = '2026-01-01T00:01:00.000Z';
const outputs = [{ name: 'events.root', key: 'tasks/t-000001/jobs/0/attempt-1/events.root', bytes: 1234 }];
const log = {
  name: 'attempt.log',
  key: 'tasks/t-000001/jobs/0/attempt-1/attempt.log',
  bytes: 99,
  adler32: '0a1b2c3d',
};

/** Job 0 of a task of three runs on a pilot at cern; a minute passes. */
async function setup(jobs = 3) {
  const deps = inMemoryDeps();
  await addSite(deps);
  const taskId = await runningTask(deps, generationSpec(jobs));
  const pilotId = await addPilot(deps);
  const ref = { taskId, jobIndex: 0, attempt: 1 };
  await claimed(deps, pilotId, ref);
  deps.clock.set(ENDED_AT);
  return { deps, taskId, pilotId, ref };
}

describe('completeJob', () => {
  it('records a success with its outputs and log, and leaves the pilot idle with its lease renewed', async () => {
    const { deps, taskId, pilotId, ref } = await setup();
    const response = await complete(deps, pilotId, report(ref, PILOT_ERROR_CODES.OK, { outputs, log }));
    expect(response).toEqual({ outcome: 'recorded', jobState: 'finished', attempt: 1 });
    expect(await recordOf(deps, taskId, 0)).toMatchObject({
      state: 'finished',
      attempt: 1,
      exitCode: 0,
      pilotErrorCode: 0,
      usage: USAGE,
      outputs,
      log,
      endedAt: ENDED_AT,
    });
    expect(await leaseOf(deps, pilotId)).toMatchObject({
      state: 'idle',
      jobs: [],
      expiresAt: Date.parse(ENDED_AT) + deps.settings.leaseSec * 1000,
    });
  });

  it('lists exactly the attempts the pilot still holds in its lease, and drops the kills of the reported one', async () => {
    const { deps, taskId, pilotId, ref } = await setup();
    const second = { taskId, jobIndex: 1, attempt: 1 };
    await claimed(deps, pilotId, second, { holds: [ref] });
    await deps.leases.addKills(pilotId, [
      killEntry(`${taskId}.0.1`, 'cancelled'),
      killEntry(`${taskId}.1.1`, 'cancelled'),
    ]);
    await complete(deps, pilotId, report(ref), [second]);
    expect(await leaseOf(deps, pilotId)).toMatchObject({
      state: 'busy',
      jobs: [`${taskId}.1.1`],
      kill: [`${taskId}.1.1|cancelled`],
    });
  });

  it('queues the next attempt after a failure while attempts are left', async () => {
    const { deps, taskId, pilotId, ref } = await setup();
    const response = await complete(
      deps,
      pilotId,
      report(ref, PILOT_ERROR_CODES.PAYLOAD_FAILED, { exitCode: 3, errorMessage: 'segfault' }),
    );
    expect(response).toEqual({ outcome: 'recorded', jobState: 'queued', attempt: 2 });
    expect(await recordOf(deps, taskId, 0)).toMatchObject({
      state: 'queued',
      attempt: 2,
      failures: 1,
      ended: { attempt: 1, state: 'failed', exitCode: 3, errorMessage: 'segfault', pilotErrorCode: 1001 },
    });
  });

  it('answers a replayed success as the first, changing nothing', async () => {
    const { deps, taskId, pilotId, ref } = await setup();
    await complete(deps, pilotId, report(ref));
    const record = await recordOf(deps, taskId, 0);
    deps.jobs.takeChanges();
    deps.clock.advance(1000);
    expect(await complete(deps, pilotId, report(ref))).toEqual({
      outcome: 'recorded',
      jobState: 'finished',
      attempt: 1,
    });
    expect(await recordOf(deps, taskId, 0)).toEqual(record);
    expect(deps.jobs.takeChanges()).toEqual([]);
  });

  it('answers a replayed failure that queued a retry as the first, without a third attempt', async () => {
    const { deps, taskId, pilotId, ref } = await setup();
    const failed = report(ref, PILOT_ERROR_CODES.PAYLOAD_FAILED);
    await complete(deps, pilotId, failed);
    expect(await complete(deps, pilotId, failed)).toEqual({
      outcome: 'recorded',
      jobState: 'queued',
      attempt: 2,
    });
    expect(await recordOf(deps, taskId, 0)).toMatchObject({ state: 'queued', attempt: 2, failures: 1 });
  });

  it('answers stale to a report of a job that was never claimed', async () => {
    const { deps, taskId, pilotId } = await setup();
    expect(await complete(deps, pilotId, report({ taskId, jobIndex: 2, attempt: 1 }))).toEqual({
      outcome: 'stale',
      reason: 'the job was never claimed',
    });
    expect(await deps.jobs.get(taskId, 2)).toBeUndefined();
  });

  it("answers stale to a report of another pilot's job, which keeps running", async () => {
    const { deps, taskId, ref } = await setup();
    const other = await addPilot(deps, 'cern', BIG_PILOT, 'wn002.example.org');
    expect(await complete(deps, other, report(ref))).toEqual({
      outcome: 'stale',
      reason: 'the job is running at attempt 1',
    });
    expect((await recordOf(deps, taskId, 0)).state).toBe('running');
  });

  it('answers stale to a zombie that reports after the reaper queued its job again', async () => {
    const { deps, taskId, pilotId, ref } = await setup();
    expireLeases(deps);
    await reapPilots(deps);
    expect(await complete(deps, pilotId, report(ref))).toEqual({
      outcome: 'stale',
      reason: 'the job is queued at attempt 2',
    });
    expect(await recordOf(deps, taskId, 0)).toMatchObject({ state: 'queued', attempt: 2 });
  });

  it("answers stale to a report sent with another site's token, and records nothing", async () => {
    const { deps, taskId, pilotId, ref } = await setup();
    await addSite(deps, { siteId: 'bnl' });
    const response = await completeJob(deps, pilotToken('bnl'), pilotId, { ...report(ref), holds: [] });
    expect(response.outcome).toBe('stale');
    expect((await recordOf(deps, taskId, 0)).state).toBe('running');
    expect((await leaseOf(deps, pilotId)).jobs).toEqual([`${taskId}.0.1`]);
  });

  describe('a claim abandoned by its pilot (CLAIM_ABANDONED)', () => {
    const abandoned = (ref: { taskId: string; jobIndex: number; attempt: number }) =>
      report(ref, PILOT_ERROR_CODES.CLAIM_ABANDONED, {
        exitCode: undefined,
        usage: { wallTimeSec: 0, cpuTimeSec: 0, maxRssKB: 0 },
      });

    it('fences a claim that never landed: the job moves to attempt 2, no attempt of the budget used', async () => {
      const { deps, taskId, pilotId } = await setup();
      const lost = { taskId, jobIndex: 1, attempt: 1 };
      // The lease was written, then the claim's job write never happened (or its answer was lost).
      await deps.leases.hold(pilotId, {
        jobs: [`${taskId}.0.1`, `${taskId}.1.1`],
        state: 'busy',
        expiresAt: Date.now(),
      });
      expect(await complete(deps, pilotId, abandoned(lost), [{ taskId, jobIndex: 0, attempt: 1 }])).toEqual({
        outcome: 'recorded',
        jobState: 'queued',
        attempt: 2,
      });
      expect(await recordOf(deps, taskId, 1)).toMatchObject({
        state: 'queued',
        attempt: 2,
        failures: 0,
        siteId: 'cern',
        ended: { attempt: 1, state: 'abandoned', pilotErrorCode: PILOT_ERROR_CODES.CLAIM_ABANDONED },
      });
      expect((await leaseOf(deps, pilotId)).jobs).toEqual([`${taskId}.0.1`]);
      // The late claim write can never land now.
      const late = await claimJob(
        deps,
        token,
        pilotId,
        claimOf(taskId, 1, 1, { holds: [{ taskId, jobIndex: 0, attempt: 1 }] }),
      );
      expect(late).toEqual({ outcome: 'stale', reason: 'the job is queued at attempt 2' });
      expect((await recordOf(deps, taskId, 1)).attempt).toBe(2);
    });

    it('gives back a claim that did land: the attempt ends abandoned and the job is queued again', async () => {
      const { deps, taskId, pilotId, ref } = await setup();
      expect(await complete(deps, pilotId, abandoned(ref))).toEqual({
        outcome: 'recorded',
        jobState: 'queued',
        attempt: 2,
      });
      expect(await recordOf(deps, taskId, 0)).toMatchObject({
        state: 'queued',
        attempt: 2,
        failures: 0,
        ended: { attempt: 1, pilotId, state: 'abandoned' },
      });
    });

    it("leaves another pilot's running job alone", async () => {
      const { deps, taskId, ref } = await setup();
      const other = await addPilot(deps, 'cern', BIG_PILOT, 'wn002.example.org');
      expect((await complete(deps, other, abandoned(ref))).outcome).toBe('stale');
      expect(await recordOf(deps, taskId, 0)).toMatchObject({ state: 'running', attempt: 1 });
    });

    it('moves the job only once when the report is sent again', async () => {
      const { deps, taskId, pilotId } = await setup();
      const lost = { taskId, jobIndex: 1, attempt: 1 };
      await complete(deps, pilotId, abandoned(lost));
      await complete(deps, pilotId, abandoned(lost));
      expect(await recordOf(deps, taskId, 1)).toMatchObject({ state: 'queued', attempt: 2 });
    });

    it('takes the site from the lease when the token is for any site', async () => {
      const { deps, taskId, pilotId } = await setup();
      const lost = { taskId, jobIndex: 2, attempt: 1 };
      const response = await recordReport(deps, pilotToken('*'), pilotId, abandoned(lost));
      expect(response).toEqual({ outcome: 'recorded', jobState: 'queued', attempt: 2 });
      expect((await recordOf(deps, taskId, 2)).siteId).toBe('cern');
    });
  });
});

describe('attemptResult', () => {
  it.each([
    [PILOT_ERROR_CODES.OK, 'finished'],
    [PILOT_ERROR_CODES.EVICTED, 'evicted'],
    [PILOT_ERROR_CODES.CANCELLED, 'cancelled'],
    [PILOT_ERROR_CODES.CLAIM_ABANDONED, 'abandoned'],
    [PILOT_ERROR_CODES.PAYLOAD_FAILED, 'failed'],
    [PILOT_ERROR_CODES.MEMORY_EXCEEDED, 'failed'],
    [PILOT_ERROR_CODES.LEASE_LOST, 'failed'],
  ] as const)('ends the attempt of a report with code %i as %s', (code, state) => {
    expect(attemptResult(report({ taskId: 't-000001', jobIndex: 0, attempt: 1 }, code)).state).toBe(state);
  });

  it('keeps what the pilot reported, and no empty outputs', () => {
    const ref = { taskId: 't-000001', jobIndex: 0, attempt: 1 };
    const result = attemptResult(
      report(ref, PILOT_ERROR_CODES.PAYLOAD_SIGNALLED, { signal: 'SIGSEGV', host: 'wn7', log }),
    );
    expect(result).toEqual({
      state: 'failed',
      pilotErrorCode: PILOT_ERROR_CODES.PAYLOAD_SIGNALLED,
      exitCode: 1,
      signal: 'SIGSEGV',
      usage: USAGE,
      log,
      host: 'wn7',
    });
    expect(attemptResult(report(ref, 0, { outputs })).outputs).toEqual(outputs);
  });
});
