/**
 * The Pilot in this process, with the typed client against the fake API, the site queue and the
 * task bucket in fauxqs, and its lease in the fake API's in-memory lease store (renewed by the
 * pilot through `openLeases`): the job loop, one call per job, the lease and its answers, and how
 * the pilot ends.
 */
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { attemptKey } from '#core/jobs/job.ts';
import { killEntry } from '#core/pilots/pilot.ts';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import { ATTEMPT_LOG_NAME } from '#core/storage/object-keys.ts';
import { adler32 } from '#pilot/adler32.ts';
import { EXIT_CODES } from '#pilot/exit-codes.ts';
import { BUCKET, newTaskId, processesWithMarker, SITE, usePilotHarness, waitFor } from './pilot-harness.ts';

const h = usePilotHarness();

/** The operations the pilot called, in order. */
function operations(): string[] {
  return h.api.requests.flatMap((r) => (r.operation === undefined ? [] : [r.operation]));
}

function claimsOf(taskId: string, jobIndex = 0) {
  return h.api.bodies('claimJob').filter((c) => c.taskId === taskId && c.jobIndex === jobIndex);
}

function reportsOf(taskId: string, jobIndex = 0) {
  return h.api.reports().filter((r) => r.taskId === taskId && r.jobIndex === jobIndex);
}

const sleeping = (seconds: number, marker: string, script = `sleep ${seconds}`) => ({
  payload: { command: 'sh', args: ['-c', script], env: { TEST_MARKER: marker }, sandbox: [] },
  outputs: [],
});

describe('Pilot: the job loop', () => {
  it('registers, claims, runs a job, uploads its output and one log object, and reports it when max-jobs is reached', async () => {
    const taskId = newTaskId();
    const job = h.makeJob(taskId, 0);
    await h.queueJob(job);

    const p = h.runPilot({ maxJobs: 1, batchId: 'slurm-42' });
    expect(await h.codeOf(p)).toBe(EXIT_CODES.OK);
    expect(p.pilot.exitReason).toBe('max-jobs');

    const [registration] = h.api.bodies('registerPilot');
    expect(registration).toMatchObject({
      siteId: SITE,
      host: 'wn01.example.org',
      pid: process.pid,
      batchId: 'slurm-42',
      resources: { cores: 2, memoryMB: 4000, diskMB: 10_000 },
    });
    expect(registration?.resources.walltimeLeftSec).toBeGreaterThan(86_390);
    expect(h.api.requests.every((r) => r.authorization === `Bearer ${h.api.token}`)).toBe(true);
    expect(operations()).toEqual(['registerPilot', 'claimJob', 'completeJob']);
    const [claim] = h.api.bodies('claimJob');
    expect(claim).toMatchObject({ taskId, jobIndex: 0, attempt: 1, holds: [], resources: { cores: 2 } });
    expect(claim?.sentAt).toEqual(expect.any(Number));
    expect(claim?.report).toBeUndefined();

    const [complete] = h.api.bodies('completeJob');
    const logText = await h.objectText(job.logKey);
    expect(complete).toMatchObject({
      taskId,
      jobIndex: 0,
      attempt: 1,
      exitCode: 0,
      pilotErrorCode: PILOT_ERROR_CODES.OK,
      outputs: [{ name: 'out.txt', key: `${job.outputPrefix}out.txt`, bytes: 3, adler32: adler32('hi\n') }],
      log: {
        name: ATTEMPT_LOG_NAME,
        key: job.logKey,
        bytes: Buffer.byteLength(logText),
        adler32: adler32(logText),
      },
      host: 'wn01.example.org',
      holds: [],
    });
    expect(complete?.usage.wallTimeSec).toBeGreaterThan(0);
    expect(await h.objectText(`${job.outputPrefix}out.txt`)).toBe('hi\n');
    expect(logText).toContain(`pilot ${h.api.pilotId} at site ${SITE} on wn01.example.org`);
    // One log object per attempt, next to the outputs: nothing else under the attempt's prefix.
    const listed = await h.s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: job.outputPrefix }));
    expect((listed.Contents ?? []).map((o) => o.Key).sort()).toEqual([
      job.logKey,
      `${job.outputPrefix}out.txt`,
    ]);
    expect(await h.messageCount(h.queueUrl)).toBe(0);
    expect(p.leaseTables).toEqual([h.api.leases.tableName]);
  });

  it('sends a job’s report with the claim of the next job, so that two jobs take three calls', async () => {
    const first = newTaskId();
    const second = newTaskId();
    await h.queueJob(h.makeJob(first, 0, sleeping(1, h.marker)));
    await h.queueJob(h.makeJob(second, 0, sleeping(1, h.marker)));

    const p = h.runPilot({ maxJobs: 2 });
    expect(await h.codeOf(p)).toBe(EXIT_CODES.OK);
    expect(operations()).toEqual(['registerPilot', 'claimJob', 'claimJob', 'completeJob']);
    const [claimA, claimB] = h.api.bodies('claimJob');
    expect(claimA?.report).toBeUndefined();
    // The second claim carries the end of the first job; the last job's end goes alone.
    expect(claimB?.report).toMatchObject({
      taskId: claimA?.taskId,
      jobIndex: 0,
      attempt: 1,
      pilotErrorCode: PILOT_ERROR_CODES.OK,
    });
    expect(h.api.bodies('completeJob')).toEqual([
      expect.objectContaining({ taskId: claimB?.taskId, pilotErrorCode: PILOT_ERROR_CODES.OK, holds: [] }),
    ]);
  });

  it('sends the report alone when no next message comes within a second, and goes on polling', async () => {
    const taskId = newTaskId();
    await h.queueJob(h.makeJob(taskId, 0));
    const p = h.runPilot({ idleExitSec: 60 });

    const [report] = await waitFor('the report sent alone', () => {
      const completes = h.api.bodies('completeJob');
      return completes.length > 0 ? completes : undefined;
    });
    expect(report).toMatchObject({ taskId, jobIndex: 0, pilotErrorCode: PILOT_ERROR_CODES.OK });
    expect(p.pilot.exitReason).toBeUndefined();

    const next = newTaskId();
    await h.queueJob(h.makeJob(next, 0));
    await waitFor('the claim of the next job', () => claimsOf(next).length > 0);
    expect(claimsOf(next)[0]?.report).toBeUndefined();
    await waitFor('the report of the next job', () => reportsOf(next).length > 0);
    p.pilot.stop('SIGTERM');
    expect(await h.codeOf(p)).toBe(EXIT_CODES.OK);
    expect(p.pilot.exitReason).toBe('stopped');
  });

  it('acknowledges a stale message without running anything, and exits when idle', async () => {
    const taskId = newTaskId();
    h.api.jobs.set(`${taskId}.0`, { outcome: 'stale', reason: 'attempt 1 is already running elsewhere' });
    await h.sendJobMessage(taskId, 0);
    const p = h.runPilot({ idleExitSec: 2 });
    expect(await h.codeOf(p)).toBe(EXIT_CODES.OK);
    expect(p.pilot.exitReason).toBe('idle');
    expect(h.api.bodies('claimJob')).toHaveLength(1);
    expect(h.api.bodies('completeJob')).toEqual([]);
    expect(await h.messageCount(h.queueUrl)).toBe(0);
    expect(await h.messageCount(h.dlqUrl)).toBe(0);
  });

  it('hands an unfit job back to the queue for others, hidden from itself for a while', async () => {
    const taskId = newTaskId();
    h.api.jobs.set(`${taskId}.0`, { outcome: 'unfit', reason: 'needs 64 cores' });
    await h.sendJobMessage(taskId, 0);
    const p = h.runPilot({ idleExitSec: 3 });
    expect(await h.codeOf(p)).toBe(EXIT_CODES.OK);
    // Claimed once: afterwards the message stayed invisible instead of coming straight back.
    expect(h.api.bodies('claimJob')).toHaveLength(1);
    expect(await h.messageCount(h.queueUrl)).toBe(1);
    expect(await h.messageCount(h.dlqUrl)).toBe(0);
  });

  it('leaves a malformed message for the dead-letter queue without claiming it', async () => {
    await h.sendRawMessage('this is not a job message');
    const p = h.runPilot({ idleExitSec: 60 });
    await waitFor('the message in the DLQ', async () => (await h.messageCount(h.dlqUrl)) === 1);
    p.pilot.stop('SIGTERM');
    expect(await h.codeOf(p)).toBe(EXIT_CODES.OK);
    expect(h.api.bodies('claimJob')).toEqual([]);
    expect(await h.messageCount(h.queueUrl)).toBe(0);
    expect(p.log()).toContain('malformed job message');
  });

  it('acknowledges the messages of a task without claiming them once a claim answered cancelled', async () => {
    const taskId = newTaskId();
    h.api.jobs.set(`${taskId}.0`, { outcome: 'cancelled', reason: 'the task was cancelled' });
    h.api.jobs.set(`${taskId}.1`, h.makeJob(taskId, 1));
    await h.sendJobMessage(taskId, 0);
    const p = h.runPilot({ idleExitSec: 60 });
    await waitFor('the claim of job 0', () => claimsOf(taskId, 0).length > 0);
    await h.sendJobMessage(taskId, 1);
    await waitFor('the queue to be empty', async () => (await h.messageCount(h.queueUrl)) === 0);
    p.pilot.stop('SIGTERM');
    expect(await h.codeOf(p)).toBe(EXIT_CODES.OK);
    expect(claimsOf(taskId, 1)).toEqual([]);
    expect(h.api.bodies('completeJob')).toEqual([]);
    expect(p.pilot.jobsRun).toBe(0);
  });

  it('takes no job when less than --min-job-walltime-sec of its life is left', async () => {
    await h.queueJob(h.makeJob(newTaskId(), 0));
    const p = h.runPilot({ walltimeSec: 50, minJobWalltimeSec: 60 });
    expect(await h.codeOf(p)).toBe(EXIT_CODES.OK);
    expect(p.pilot.exitReason).toBe('walltime');
    expect(h.api.bodies('registerPilot')).toHaveLength(1);
    expect(h.api.bodies('claimJob')).toEqual([]);
    expect(await h.messageCount(h.queueUrl)).toBe(1);
  });

  it('shortens its life to its token’s, and so takes no job, when the token expires before the walltime', async () => {
    await h.queueJob(h.makeJob(newTaskId(), 0));
    const p = h.runPilot(
      { minJobWalltimeSec: 60 },
      {
        // Valid for 90 s: with the minute kept for the last report, 30 s of life are left.
        checkHealth: async () => ({ checks: [], healthy: true, tokenExpiresAt: Date.now() + 90_000 }),
      },
    );
    expect(await h.codeOf(p)).toBe(EXIT_CODES.OK);
    expect(p.pilot.exitReason).toBe('walltime');
    expect(h.api.bodies('registerPilot')[0]?.resources.walltimeLeftSec).toBeLessThanOrEqual(30);
    expect(h.api.bodies('claimJob')).toEqual([]);
  });

  it('stops taking work with exit code 3 when the work area runs short of space before a job', async () => {
    await h.queueJob(h.makeJob(newTaskId(), 0));
    const p = h.runPilot({ minFreeDiskRunningMB: 1024 }, { freeDiskMB: async () => 10 });
    expect(await h.codeOf(p)).toBe(EXIT_CODES.UNHEALTHY);
    expect(p.pilot.exitReason).toBe('disk-full');
    expect(h.api.bodies('claimJob')).toEqual([]);
    expect(p.beats.at(-1)?.state).toBe('exited');
    expect(p.log()).toContain('not enough free space in the work area');
  });
});

describe('Pilot: registration', () => {
  it('registers its failed node checks, then takes no work, opens no lease and exits with 3', async () => {
    await h.queueJob(h.makeJob(newTaskId(), 0));
    const failed = {
      name: 'software-areas',
      ok: false,
      value: '0 of 1 readable',
      message: '/cvmfs: not found',
    };
    const p = h.runPilot({}, { checkHealth: async () => ({ checks: [failed], healthy: false }) });
    expect(await h.codeOf(p)).toBe(EXIT_CODES.UNHEALTHY);
    expect(p.pilot.exitReason).toBe('unhealthy');
    expect(h.api.bodies('registerPilot')[0]?.health).toEqual([failed]);
    expect(operations()).toEqual(['registerPilot']);
    expect(p.leaseTables).toEqual([]);
    expect(await h.messageCount(h.queueUrl)).toBe(1);
  });

  it('exits with 4, taking no job and opening no lease, when the API does not accept it', async () => {
    h.api.refuse = 'site site-a takes no pilots now';
    await h.queueJob(h.makeJob(newTaskId(), 0));
    const p = h.runPilot();
    expect(await h.codeOf(p)).toBe(EXIT_CODES.REFUSED);
    expect(operations()).toEqual(['registerPilot']);
    expect(p.leaseTables).toEqual([]);
    expect(p.log()).toContain('site site-a takes no pilots now');
  });

  it('registers once when the answer to its registration is lost: the retry carries the same key and gets the same pilot', async () => {
    const taskId = newTaskId();
    await h.queueJob(h.makeJob(taskId, 0));
    h.api.loseRegisterAnswers = 1;
    const p = h.runPilot({ maxJobs: 1 });
    expect(await h.codeOf(p)).toBe(EXIT_CODES.OK);

    const keys = h.api.bodies('registerPilot').map((b) => b.registrationKey);
    expect(keys).toHaveLength(2);
    expect(keys[0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(keys[1]).toBe(keys[0]);
    expect(h.api.pilotIds).toHaveLength(1);
    expect(operations()).toEqual(['registerPilot', 'registerPilot', 'claimJob', 'completeJob']);
    expect(h.api.requests.filter((r) => r.operation === 'claimJob').map((r) => r.path)).toEqual([
      `/pilots/${h.api.pilotId}/claim`,
    ]);
    expect(await h.lease()).toMatchObject({ state: 'exited', jobsRun: 1 });
  });

  it('exits with 1 and takes no job when its set-up after registration fails', async () => {
    await h.queueJob(h.makeJob(newTaskId(), 0));
    const p = h.runPilot(
      {},
      {
        onRegistered: () => {
          throw new Error('no usable credentials');
        },
      },
    );
    expect(await h.codeOf(p)).toBe(EXIT_CODES.FAILURE);
    expect(p.pilot.exitReason).toBe('setup-failed');
    expect(operations()).toEqual(['registerPilot']);
    expect(p.leaseTables).toEqual([]);
  });
});

describe('Pilot: its lease', () => {
  it('renews its own lease, idle or busy, every heartbeat, and records its exit and jobs run there', async () => {
    const taskId = newTaskId();
    const p = h.runPilot({ maxJobs: 1 });
    await waitFor('an idle heartbeat', () => p.beats.some((b) => b.state === 'idle'));
    await h.queueJob(h.makeJob(taskId, 0, sleeping(3, h.marker)));
    expect(await h.codeOf(p)).toBe(EXIT_CODES.OK);

    const states = p.beats.map((b) => b.state);
    expect(states).toContain('busy');
    expect(states.indexOf('idle')).toBeLessThan(states.indexOf('busy'));
    expect(states.at(-1)).toBe('exited');
    expect(states.filter((s) => s === 'exited')).toHaveLength(1);
    const lease = await h.lease();
    expect(lease).toMatchObject({ pilotId: h.api.pilotId, state: 'exited', jobsRun: 1, jobs: [] });
    // Renewed for the lease time the registration gave (60 s).
    expect(lease?.expiresAt).toBeGreaterThan(Date.now() + 50_000);
  });

  it('kills the payload, reports CANCELLED and skips the task’s other messages when its lease says kill-cancelled', async () => {
    const taskId = newTaskId();
    const job = h.makeJob(taskId, 0, sleeping(30, h.marker));
    await h.queueJob(job);
    h.api.jobs.set(`${taskId}.1`, h.makeJob(taskId, 1));
    const p = h.runPilot({ idleExitSec: 60 });
    await waitFor('the payload to run', () => processesWithMarker(h.marker).length > 0);
    await h.api.leases.addKills(h.api.pilotId, [killEntry(attemptKey(job), 'cancelled')]);

    const [report] = await waitFor('the report', () =>
      reportsOf(taskId).length > 0 ? reportsOf(taskId) : undefined,
    );
    expect(report?.pilotErrorCode).toBe(PILOT_ERROR_CODES.CANCELLED);
    expect(processesWithMarker(h.marker)).toEqual([]);

    await h.sendJobMessage(taskId, 1);
    await waitFor('the queue to be empty', async () => (await h.messageCount(h.queueUrl)) === 0);
    p.pilot.stop('SIGTERM');
    expect(await h.codeOf(p)).toBe(EXIT_CODES.OK);
    expect(claimsOf(taskId, 1)).toEqual([]);
    expect(p.pilot.jobsRun).toBe(1);
  });

  it('kills the payload and reports LEASE_LOST, and still takes the task’s next job, when its lease says kill-lease-lost', async () => {
    const taskId = newTaskId();
    const job = h.makeJob(taskId, 0, sleeping(30, h.marker));
    await h.queueJob(job);
    const p = h.runPilot({ idleExitSec: 60 });
    await waitFor('the payload to run', () => processesWithMarker(h.marker).length > 0);
    await h.api.leases.addKills(h.api.pilotId, [killEntry(attemptKey(job), 'lease-lost')]);
    await waitFor('the report', () => reportsOf(taskId).length > 0);
    expect(reportsOf(taskId)[0]?.pilotErrorCode).toBe(PILOT_ERROR_CODES.LEASE_LOST);

    await h.queueJob(h.makeJob(taskId, 1));
    await waitFor('the report of the next job', () => reportsOf(taskId, 1).length > 0);
    expect(reportsOf(taskId, 1)[0]?.pilotErrorCode).toBe(PILOT_ERROR_CODES.OK);
    p.pilot.stop('SIGTERM');
    expect(await h.codeOf(p)).toBe(EXIT_CODES.OK);
  });

  it('kills the payload, reports LEASE_LOST and exits with 4 when its lease is gone', async () => {
    const taskId = newTaskId();
    await h.queueJob(h.makeJob(taskId, 0, sleeping(30, h.marker)));
    const p = h.runPilot({ idleExitSec: 60 });
    await waitFor('the payload to run', () => processesWithMarker(h.marker).length > 0);
    // As the reaper does with a lease it found expired.
    await h.api.leases.markLost(h.api.pilotId, Date.now() + 3_600_000);

    expect(await h.codeOf(p)).toBe(EXIT_CODES.REFUSED);
    expect(p.pilot.exitReason).toBe('refused');
    expect(reportsOf(taskId).map((r) => r.pilotErrorCode)).toEqual([PILOT_ERROR_CODES.LEASE_LOST]);
    expect(processesWithMarker(h.marker)).toEqual([]);
    expect(p.beats.map((b) => b.state)).not.toContain('exited');
    expect((await h.lease())?.state).toBe('lost');
  });

  it('goes on, and renews its lease again, when a renewal fails', async () => {
    const leases = h.api.leases;
    let failures = 0;
    const renewals: string[] = [];
    const p = h.runPilot(
      { idleExitSec: 60 },
      {
        openLeases: () => ({
          renew: async (pilotId, change) => {
            if (failures < 2) {
              failures++;
              renewals.push('failed');
              throw new Error('ProvisionedThroughputExceededException');
            }
            renewals.push(change.state);
            return leases.renew(pilotId, change);
          },
        }),
      },
    );
    await waitFor('a renewal after two failures', () => renewals.includes('idle'), 15_000);
    expect(renewals.slice(0, 3)).toEqual(['failed', 'failed', 'idle']);
    expect(p.pilot.exitReason).toBeUndefined();
    expect(p.log()).toContain('heartbeat failed; trying again soon');
    await h.queueJob(h.makeJob(newTaskId(), 0));
    await waitFor('the job to be reported', () => h.api.reports().length > 0);
    p.pilot.stop('SIGTERM');
    expect(await h.codeOf(p)).toBe(EXIT_CODES.OK);
    expect((await h.lease())?.state).toBe('exited');
  });

  it('gives back a claim whose answer never came once its lease lists it', async () => {
    const taskId = newTaskId();
    await h.queueJob(h.makeJob(taskId, 0));
    h.api.loseClaimAnswers.set(`${taskId}.0`, Number.POSITIVE_INFINITY);
    const p = h.runPilot({ idleExitSec: 60 });

    const [given] = await waitFor('the claim given back', () => {
      const abandoned = h.api
        .bodies('completeJob')
        .filter((c) => c.pilotErrorCode === PILOT_ERROR_CODES.CLAIM_ABANDONED);
      return abandoned.length > 0 ? abandoned : undefined;
    });
    expect(given).toMatchObject({
      taskId,
      jobIndex: 0,
      attempt: 1,
      usage: { wallTimeSec: 0, cpuTimeSec: 0, maxRssKB: 0 },
      holds: [],
    });
    expect(given?.errorMessage).toContain(`the answer to claim ${taskId}.0.1 never reached the pilot`);
    p.pilot.stop('SIGTERM');
    expect(await h.codeOf(p)).toBe(EXIT_CODES.OK);
    expect(p.pilot.jobsRun).toBe(0);
  });

  it('gives nothing back for an attempt its lease lists that it never claimed', async () => {
    const p = h.runPilot({ idleExitSec: 60 });
    await waitFor('a first heartbeat', () => p.beats.length > 0);
    const foreign = `${newTaskId()}.0.1`;
    await h.api.leases.hold(h.api.pilotId, {
      jobs: [foreign],
      state: 'idle',
      expiresAt: Date.now() + 60_000,
    });
    const seen = p.beats.length;
    await waitFor('two more heartbeats', () => p.beats.length >= seen + 2);
    p.pilot.stop('SIGTERM');
    expect(await h.codeOf(p)).toBe(EXIT_CODES.OK);
    expect(h.api.bodies('completeJob')).toEqual([]);
  });

  it('does not give back a claim answered on a later try while the report of its job is on the way', async () => {
    const taskId = newTaskId();
    const next = newTaskId();
    // Every try of the first claim call lands without an answer; the message comes back and the
    // claim is answered then. The heartbeats that would have given it back in between are late.
    const releaseBeats = h.holdBeats();
    h.api.loseClaimAnswers.set(`${taskId}.0`, 5);
    await h.queueJob(h.makeJob(taskId, 0, sleeping(2, h.marker)));
    const p = h.runPilot({ idleExitSec: 60 });
    await waitFor('the job to be claimed', () => p.lines().some((l) => l.message === 'job claimed'));
    expect(claimsOf(taskId)).toHaveLength(6);

    // The next claim carries the job's report: keep it in flight over two heartbeats.
    let openGate: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      openGate = resolve;
    });
    h.api.claimGate = () => gate;
    await h.queueJob(h.makeJob(next, 0));
    releaseBeats();
    await waitFor('the claim carrying the report', () => claimsOf(next).length > 0);
    const seen = p.beats.length;
    await waitFor('two heartbeats with the report in flight', () => p.beats.length >= seen + 2);
    h.api.claimGate = undefined;
    openGate();

    await waitFor('the report of the next job', () => reportsOf(next).length > 0);
    p.pilot.stop('SIGTERM');
    expect(await h.codeOf(p)).toBe(EXIT_CODES.OK);
    expect(reportsOf(taskId).map((r) => r.pilotErrorCode)).toEqual([PILOT_ERROR_CODES.OK]);
  });
});

describe('Pilot: errors of the API', () => {
  it('hands its message back, sends its report alone and exits with 4 when a claim answers PILOT_GONE', async () => {
    const first = newTaskId();
    const second = newTaskId();
    await h.queueJob(h.makeJob(first, 0, sleeping(1, h.marker)));
    const p = h.runPilot({ idleExitSec: 60 });
    await waitFor('the first claim', () => claimsOf(first).length > 0);
    h.api.claimErrors.push({ status: 410, code: 'PILOT_GONE', message: 'pilot is lost; register again' });
    await h.queueJob(h.makeJob(second, 0));

    expect(await h.codeOf(p)).toBe(EXIT_CODES.REFUSED);
    // One refused claim, then no more: a zombie pilot would spin on the message until the DLQ.
    expect(claimsOf(second)).toHaveLength(1);
    expect(claimsOf(second)[0]?.report).toMatchObject({
      taskId: first,
      pilotErrorCode: PILOT_ERROR_CODES.OK,
    });
    // The report the refused claim carried is not lost.
    expect(h.api.bodies('completeJob')).toEqual([
      expect.objectContaining({ taskId: first, pilotErrorCode: PILOT_ERROR_CODES.OK }),
    ]);
    expect(await h.messageCount(h.queueUrl)).toBe(1);
    expect(await h.messageCount(h.dlqUrl)).toBe(0);
  });

  it('goes on, sending the report alone and claiming the job again later, when a claim fails with another error such as 409', async () => {
    const first = newTaskId();
    const second = newTaskId();
    await h.queueJob(h.makeJob(first, 0, sleeping(1, h.marker)));
    const p = h.runPilot({ maxJobs: 2 });
    await waitFor('the first claim', () => claimsOf(first).length > 0);
    h.api.claimErrors.push({ status: 409, code: 'CONFLICT', message: 'try again' });
    await h.queueJob(h.makeJob(second, 0));

    expect(await h.codeOf(p)).toBe(EXIT_CODES.OK);
    expect(p.pilot.exitReason).toBe('max-jobs');
    const [refused, accepted] = claimsOf(second);
    expect(claimsOf(second)).toHaveLength(2);
    expect(refused?.report).toMatchObject({ taskId: first, pilotErrorCode: PILOT_ERROR_CODES.OK });
    expect(accepted?.report).toBeUndefined();
    // The report the refused claim carried went alone, then the second job ran and was reported.
    expect(h.api.bodies('completeJob').map((c) => [c.taskId, c.pilotErrorCode])).toEqual([
      [first, PILOT_ERROR_CODES.OK],
      [second, PILOT_ERROR_CODES.OK],
    ]);
  });
});

describe('Pilot.stop', () => {
  it('drains: renews its lease as draining, kills a payload that ignores SIGTERM within the drain, reports EVICTED and exits', async () => {
    const taskId = newTaskId();
    await h.queueJob(h.makeJob(taskId, 0, sleeping(60, h.marker, 'trap "" TERM; sleep 60')));
    // A kill grace far beyond the drain: the drain's bound must win (the payload is killed after a third of it).
    const p = h.runPilot({ killGraceSec: 60, drainSec: 3, idleExitSec: 60 });
    await waitFor('the payload to run', () => processesWithMarker(h.marker).length > 0);
    p.pilot.stop('SIGTERM');
    expect(await h.codeOf(p, 20_000)).toBe(EXIT_CODES.OK);
    expect(p.pilot.exitReason).toBe('stopped');
    expect(reportsOf(taskId).map((r) => r.pilotErrorCode)).toEqual([PILOT_ERROR_CODES.EVICTED]);
    const states = p.beats.map((b) => b.state);
    expect(states).toContain('draining');
    expect(states.at(-1)).toBe('exited');
    expect(processesWithMarker(h.marker)).toEqual([]);
  });
});
