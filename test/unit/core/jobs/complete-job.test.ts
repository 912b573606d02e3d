import { describe, expect, it } from 'vitest';
import { ForbiddenError, ValidationError } from '#core/errors.ts';
import { claimJob } from '#core/jobs/claim-job.ts';
import { completeJob } from '#core/jobs/complete-job.ts';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import { reapLeases } from '#core/pilots/reap-leases.ts';
import type { TaskSpecInput } from '#core/tasks/task-spec.ts';
import { waitForJobs } from '#core/tasks/task-workflow.ts';
import { DEFAULT_START, inMemoryDeps } from '#test/support/in-memory-ports.ts';
import {
  addPilot,
  addSite,
  claimed,
  generationSpec,
  jobOf,
  pilotToken,
  report,
  runningTask,
  taskOf,
} from '../scenario.ts';

const token = pilotToken('cern');
const outputs = [{ name: 'events.root', key: 'tasks/t-000001/jobs/0/attempt-1/events.root', bytes: 1234 }];

async function setup(jobs = 2, fields: Partial<TaskSpecInput> = {}) {
  const deps = inMemoryDeps();
  await addSite(deps);
  const taskId = await runningTask(deps, generationSpec(jobs, fields));
  const pilot = await addPilot(deps);
  await claimed(deps, pilot, taskId, 0);
  deps.queue.clear();
  deps.clock.advance(60_000);
  return { deps, taskId, pilot };
}

describe('completeJob', () => {
  it('finishes the job and records the attempt when the payload succeeded', async () => {
    const { deps, taskId, pilot } = await setup();
    const response = await completeJob(
      deps,
      token,
      pilot.pilotId,
      report(taskId, 0, 1, 0, { outputs, logKey: 'log' }),
    );
    expect(response).toEqual({ outcome: 'recorded', jobState: 'finished', attempt: 1 });
    const job = await jobOf(deps, taskId, 0);
    expect(job).toMatchObject({
      state: 'finished',
      attempt: 1,
      exitCode: 0,
      pilotErrorCode: 0,
      outputs,
      logKey: 'log',
      endedAt: '2026-01-01T00:01:00.000Z',
    });
    expect(job.leaseExpiresAt).toBeUndefined();
    expect(job.attempts).toEqual([
      {
        attempt: 1,
        pilotId: pilot.pilotId,
        siteId: 'cern',
        host: 'wn001.example.org',
        state: 'finished',
        startedAt: DEFAULT_START,
        endedAt: '2026-01-01T00:01:00.000Z',
        exitCode: 0,
        pilotErrorCode: 0,
        usage: { wallTimeSec: 12.5, cpuTimeSec: 11, maxRssKB: 204_800 },
        outputs,
        logKey: 'log',
      },
    ]);
    expect((await taskOf(deps, taskId)).counts).toMatchObject({ starting: 0, finished: 1, queued: 1 });
    expect(await deps.pilots.get(pilot.pilotId)).toMatchObject({ jobsRun: 1, state: 'idle' });
    expect(deps.queue.sent).toEqual([]);
  });

  it('releases the workflow when the last job finishes and the wait token was stored', async () => {
    const { deps, taskId, pilot } = await setup(1);
    await waitForJobs(deps, taskId, 'token-1');
    expect(deps.workflow.releases).toEqual([]);
    await completeJob(deps, token, pilot.pilotId, report(taskId, 0, 1));
    expect(deps.workflow.releases).toEqual([{ token: 'token-1', output: { taskId } }]);
  });

  it('does not release the workflow while other jobs are not final', async () => {
    const { deps, taskId, pilot } = await setup(2);
    await waitForJobs(deps, taskId, 'token-1');
    await completeJob(deps, token, pilot.pilotId, report(taskId, 0, 1));
    expect(deps.workflow.releases).toEqual([]);
  });

  it('queues a failed job again as attempt 2, counts the failure and sends its message', async () => {
    const { deps, taskId, pilot } = await setup();
    const response = await completeJob(
      deps,
      token,
      pilot.pilotId,
      report(taskId, 0, 1, PILOT_ERROR_CODES.PAYLOAD_FAILED, { exitCode: 3, errorMessage: 'segfault' }),
    );
    expect(response).toEqual({ outcome: 'recorded', jobState: 'queued', attempt: 2 });
    const job = await jobOf(deps, taskId, 0);
    expect(job).toMatchObject({
      state: 'queued',
      attempt: 2,
      failures: 1,
      exitCode: 3,
      pilotErrorCode: 1001,
      errorMessage: 'segfault',
      queuedAt: '2026-01-01T00:01:00.000Z',
    });
    expect(job.pilotId).toBeUndefined();
    expect(job.leaseExpiresAt).toBe(deps.clock.now().getTime() + deps.settings.dispatchLeaseSec * 1000);
    expect(job.attempts).toHaveLength(1);
    expect(job.attempts[0]).toMatchObject({ attempt: 1, state: 'failed', pilotErrorCode: 1001, exitCode: 3 });
    expect(deps.queue.sent).toEqual([{ v: 1, taskId, jobIndex: 0, attempt: 2, siteId: 'cern' }]);
    expect((await taskOf(deps, taskId)).counts).toMatchObject({ starting: 0, queued: 2, failed: 0 });
  });

  it('fails the job when its last attempt fails', async () => {
    const { deps, taskId, pilot } = await setup(1, { maxAttempts: 2 });
    await completeJob(deps, token, pilot.pilotId, report(taskId, 0, 1, PILOT_ERROR_CODES.MEMORY_EXCEEDED));
    await claimed(deps, pilot, taskId, 0, 2);
    await waitForJobs(deps, taskId, 'token-1');
    const response = await completeJob(
      deps,
      token,
      pilot.pilotId,
      report(taskId, 0, 2, PILOT_ERROR_CODES.MEMORY_EXCEEDED),
    );
    expect(response).toEqual({ outcome: 'recorded', jobState: 'failed', attempt: 2 });
    const job = await jobOf(deps, taskId, 0);
    expect(job).toMatchObject({ state: 'failed', attempt: 2, failures: 2 });
    expect(job.attempts.map((a) => [a.attempt, a.state])).toEqual([
      [1, 'failed'],
      [2, 'failed'],
    ]);
    expect((await taskOf(deps, taskId)).counts).toMatchObject({ failed: 1, queued: 0, starting: 0 });
    expect(deps.queue.sent).toHaveLength(1);
    expect(deps.workflow.releases).toHaveLength(1);
  });

  it('retries an evicted job without counting a failure', async () => {
    const { deps, taskId, pilot } = await setup(1, { maxAttempts: 1 });
    const response = await completeJob(
      deps,
      token,
      pilot.pilotId,
      report(taskId, 0, 1, PILOT_ERROR_CODES.EVICTED),
    );
    expect(response).toEqual({ outcome: 'recorded', jobState: 'queued', attempt: 2 });
    const job = await jobOf(deps, taskId, 0);
    expect(job).toMatchObject({ state: 'queued', attempt: 2, failures: 0 });
    expect(job.attempts[0]?.state).toBe('evicted');
    expect(deps.queue.sent).toEqual([{ v: 1, taskId, jobIndex: 0, attempt: 2, siteId: 'cern' }]);
  });

  it('cancels the job when it failed after its task was cancelled', async () => {
    const { deps, taskId, pilot } = await setup();
    await deps.tasks.requestCancel(taskId, DEFAULT_START);
    const killed = report(taskId, 0, 1, PILOT_ERROR_CODES.PAYLOAD_SIGNALLED, { signal: 'SIGKILL' });
    const response = await completeJob(deps, token, pilot.pilotId, killed);
    expect(response).toEqual({ outcome: 'recorded', jobState: 'cancelled', attempt: 1 });
    const job = await jobOf(deps, taskId, 0);
    expect(job).toMatchObject({ state: 'cancelled', failures: 0 });
    expect(job.attempts[0]).toMatchObject({ state: 'cancelled', signal: 'SIGKILL', pilotErrorCode: 1002 });
    expect((await taskOf(deps, taskId)).counts).toMatchObject({ cancelled: 1, starting: 0 });
    expect(deps.queue.sent).toEqual([]);
  });

  it('answers stale to a replayed completion and changes nothing', async () => {
    const { deps, taskId, pilot } = await setup();
    await completeJob(deps, token, pilot.pilotId, report(taskId, 0, 1));
    const job = await jobOf(deps, taskId, 0);
    const task = await taskOf(deps, taskId);
    deps.clock.advance(1000);
    const replay = await completeJob(deps, token, pilot.pilotId, report(taskId, 0, 1));
    expect(replay).toEqual({ outcome: 'stale', reason: 'job is finished at attempt 1' });
    expect(await jobOf(deps, taskId, 0)).toEqual(job);
    expect(await taskOf(deps, taskId)).toEqual(task);
    expect((await deps.pilots.get(pilot.pilotId))?.jobsRun).toBe(1);
    expect(deps.queue.sent).toEqual([]);
  });

  it('sends the message of the next attempt again when a completion is replayed after a retry', async () => {
    const { deps, taskId, pilot } = await setup();
    const failed = report(taskId, 0, 1, PILOT_ERROR_CODES.PAYLOAD_FAILED);
    await completeJob(deps, token, pilot.pilotId, failed);
    const job = await jobOf(deps, taskId, 0);
    const replay = await completeJob(deps, token, pilot.pilotId, failed);
    expect(replay).toEqual({ outcome: 'recorded', jobState: 'queued', attempt: 2 });
    expect(deps.queue.sent).toEqual([
      { v: 1, taskId, jobIndex: 0, attempt: 2, siteId: 'cern' },
      { v: 1, taskId, jobIndex: 0, attempt: 2, siteId: 'cern' },
    ]);
    expect(await jobOf(deps, taskId, 0)).toEqual(job);
  });

  it('retries the job once when two identical reports arrive at once', async () => {
    const { deps, taskId, pilot } = await setup();
    const failed = report(taskId, 0, 1, PILOT_ERROR_CODES.PAYLOAD_FAILED);
    const responses = await Promise.all([
      completeJob(deps, token, pilot.pilotId, failed),
      completeJob(deps, token, pilot.pilotId, failed),
    ]);
    expect(responses[0]).toEqual({ outcome: 'recorded', jobState: 'queued', attempt: 2 });
    // The second is either refused or treated as a replay of the first (its message sent again).
    expect([
      { outcome: 'stale', reason: 'the job changed meanwhile' },
      { outcome: 'recorded', jobState: 'queued', attempt: 2 },
    ]).toContainEqual(responses[1]);
    const job = await jobOf(deps, taskId, 0);
    expect(job).toMatchObject({ state: 'queued', attempt: 2, failures: 1 });
    expect(job.attempts).toHaveLength(1);
    expect(deps.queue.sent.length).toBeGreaterThanOrEqual(1);
    expect(deps.queue.sent.every((m) => m.attempt === 2)).toBe(true);
    expect((await deps.pilots.get(pilot.pilotId))?.jobsRun).toBe(1);
    expect((await taskOf(deps, taskId)).counts).toMatchObject({ queued: 2, starting: 0 });
  });

  it('answers stale to a late report of an attempt the reaper already ended', async () => {
    // The attempt record was written by the reaper (state lost), not by this report, so the
    // report is not a replay; today it is answered 'recorded' and its result dropped (see the report).
    const { deps, taskId, pilot } = await setup();
    deps.clock.advance(deps.settings.leaseSec * 1000);
    expect((await reapLeases(deps)).jobsReaped).toBe(1);
    const job = await jobOf(deps, taskId, 0);
    const late = await completeJob(deps, token, pilot.pilotId, report(taskId, 0, 1, 0, { outputs }));
    expect(late.outcome).toBe('stale');
    expect(await jobOf(deps, taskId, 0)).toEqual(job);
  });

  it('answers stale to a report from a pilot that does not hold the job', async () => {
    const { deps, taskId } = await setup();
    const other = await addPilot(deps);
    const response = await completeJob(deps, token, other.pilotId, report(taskId, 0, 1));
    expect(response.outcome).toBe('stale');
    expect((await jobOf(deps, taskId, 0)).state).toBe('starting');
  });

  it('answers stale to a report of another attempt', async () => {
    const { deps, taskId, pilot } = await setup();
    expect((await completeJob(deps, token, pilot.pilotId, report(taskId, 0, 2))).outcome).toBe('stale');
    expect((await jobOf(deps, taskId, 0)).state).toBe('starting');
  });

  it('throws ValidationError naming the bad fields of a report', async () => {
    const { deps, taskId, pilot } = await setup();
    const error = await completeJob(deps, token, pilot.pilotId, {
      ...report(taskId, 0, 1),
      pilotErrorCode: 9999,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues.map((i) => i.field)).toEqual(['pilotErrorCode']);
  });

  it('throws ForbiddenError when the token is for another site', async () => {
    const { deps, taskId, pilot } = await setup();
    await expect(
      completeJob(deps, pilotToken('bnl'), pilot.pilotId, report(taskId, 0, 1)),
    ).rejects.toBeInstanceOf(ForbiddenError);
  });
});

describe('completeJob: retry with more memory or time', () => {
  it('retries a job killed for memory with 1.5 times the memory, which the next claim gets', async () => {
    const deps = inMemoryDeps();
    await addSite(deps);
    const taskId = await runningTask(deps, generationSpec(1, { resources: { memoryMB: 1000 } }));
    const pilot = await addPilot(deps);
    await claimed(deps, pilot, taskId, 0);
    const reply = await completeJob(deps, pilotToken('cern'), pilot.pilotId, {
      taskId,
      jobIndex: 0,
      attempt: 1,
      pilotErrorCode: 1102,
      errorMessage: 'memory limit 1000 MB exceeded',
      usage: { wallTimeSec: 1, cpuTimeSec: 1, maxRssKB: 1_100_000 },
    });
    expect(reply).toEqual({ outcome: 'recorded', jobState: 'queued', attempt: 2 });
    expect((await jobOf(deps, taskId, 0)).resources).toEqual({ memoryMB: 1500 });
    const claim = await claimJob(deps, pilotToken('cern'), pilot.pilotId, {
      taskId,
      jobIndex: 0,
      attempt: 2,
    });
    expect(claim.outcome === 'claimed' && claim.job.resources.memoryMB).toBe(1500);
  });
});
