import { describe, expect, it } from 'vitest';
import { ForbiddenError, NotFoundError } from '#core/errors.ts';
import { claimJob, outputPrefix, unfit } from '#core/jobs/claim-job.ts';
import { waitForJobs } from '#core/tasks/task-workflow.ts';
import { DEFAULT_START, inMemoryDeps } from '#test/support/in-memory-ports.ts';
import {
  addPilot,
  addSite,
  BIG_PILOT,
  claimed,
  generationSpec,
  jobOf,
  pilotToken,
  runningTask,
  taskOf,
} from '../scenario.ts';

async function setup(jobs = 2) {
  const deps = inMemoryDeps();
  await addSite(deps);
  const taskId = await runningTask(deps, generationSpec(jobs, { resources: { cores: 2, memoryMB: 4000 } }));
  const pilot = await addPilot(deps);
  return { deps, taskId, pilot };
}

describe('claimJob', () => {
  it('gives the pilot the job with its payload, parameters, output prefix and lease', async () => {
    const { deps, taskId, pilot } = await setup();
    const response = await claimJob(deps, pilotToken('cern'), pilot.pilotId, {
      taskId,
      jobIndex: 1,
      attempt: 1,
    });
    const task = await taskOf(deps, taskId);
    const leaseExpiresAt = Date.parse(DEFAULT_START) + deps.settings.leaseSec * 1000;
    expect(response).toEqual({
      outcome: 'claimed',
      job: {
        taskId,
        jobId: `${taskId}.1`,
        jobIndex: 1,
        attempt: 1,
        firstEvent: 10,
        nEvents: 10,
        payload: task.spec.payload,
        resources: task.spec.resources,
        outputs: ['events.root'],
        outputPrefix: `tasks/${taskId}/jobs/1/attempt-1/`,
        leaseExpiresAt,
      },
    });
  });

  it('moves the job to starting under the pilot and its lease', async () => {
    const { deps, taskId, pilot } = await setup();
    const pilotBefore = await deps.pilots.get(pilot.pilotId);
    await claimed(deps, pilot, taskId, 0);
    const job = await jobOf(deps, taskId, 0);
    expect(job).toMatchObject({
      state: 'starting',
      attempt: 1,
      pilotId: pilot.pilotId,
      host: 'wn001.example.org',
      startedAt: DEFAULT_START,
      leaseExpiresAt: Date.parse(DEFAULT_START) + deps.settings.leaseSec * 1000,
    });
    expect((await taskOf(deps, taskId)).counts).toMatchObject({ queued: 1, starting: 1 });
    // The claim writes only the job and its counter; the pilot's record follows its heartbeats.
    expect(await deps.pilots.get(pilot.pilotId)).toEqual(pilotBefore);
  });

  it('answers stale to a duplicate claim and leaves the job with the first pilot', async () => {
    const { deps, taskId, pilot } = await setup();
    const other = await addPilot(deps, 'cern', BIG_PILOT, 'wn002.example.org');
    await claimed(deps, pilot, taskId, 0);
    const again = await claimJob(deps, pilotToken('cern'), other.pilotId, {
      taskId,
      jobIndex: 0,
      attempt: 1,
    });
    expect(again).toEqual({ outcome: 'stale', reason: 'job is starting at attempt 1' });
    const same = await claimJob(deps, pilotToken('cern'), pilot.pilotId, { taskId, jobIndex: 0, attempt: 1 });
    expect(same.outcome).toBe('stale');
    expect((await jobOf(deps, taskId, 0)).pilotId).toBe(pilot.pilotId);
    expect((await taskOf(deps, taskId)).counts.starting).toBe(1);
  });

  it('gives the job to exactly one of two pilots claiming it at once', async () => {
    const { deps, taskId, pilot } = await setup();
    const other = await addPilot(deps, 'cern', BIG_PILOT, 'wn002.example.org');
    const ref = { taskId, jobIndex: 0, attempt: 1 };
    const responses = await Promise.all([
      claimJob(deps, pilotToken('cern'), pilot.pilotId, ref),
      claimJob(deps, pilotToken('cern'), other.pilotId, ref),
    ]);
    expect(responses.map((r) => r.outcome)).toEqual(['claimed', 'stale']);
    expect(responses[1]).toEqual({ outcome: 'stale', reason: 'claimed by another pilot' });
    expect((await jobOf(deps, taskId, 0)).pilotId).toBe(pilot.pilotId);
    expect((await taskOf(deps, taskId)).counts).toMatchObject({ starting: 1, queued: 1 });
  });

  it('answers stale to a message of another attempt', async () => {
    const { deps, taskId, pilot } = await setup();
    const response = await claimJob(deps, pilotToken('cern'), pilot.pilotId, {
      taskId,
      jobIndex: 0,
      attempt: 2,
    });
    expect(response).toEqual({ outcome: 'stale', reason: 'job is queued at attempt 1' });
    expect((await jobOf(deps, taskId, 0)).state).toBe('queued');
  });

  it('answers stale for a job that does not exist', async () => {
    const { deps, taskId, pilot } = await setup();
    const response = await claimJob(deps, pilotToken('cern'), pilot.pilotId, {
      taskId,
      jobIndex: 99,
      attempt: 1,
    });
    expect(response).toEqual({ outcome: 'stale', reason: 'no such job' });
  });

  it('cancels the job and answers cancelled when the task was cancelled', async () => {
    const { deps, taskId, pilot } = await setup();
    await deps.tasks.requestCancel(taskId, DEFAULT_START);
    const response = await claimJob(deps, pilotToken('cern'), pilot.pilotId, {
      taskId,
      jobIndex: 0,
      attempt: 1,
    });
    expect(response).toEqual({ outcome: 'cancelled', reason: 'the task was cancelled' });
    const job = await jobOf(deps, taskId, 0);
    expect(job.state).toBe('cancelled');
    expect(job.pilotId).toBeUndefined();
    expect(job.errorMessage).toBe('cancelled by its owner');
    expect((await taskOf(deps, taskId)).counts).toMatchObject({ queued: 1, cancelled: 1, starting: 0 });
  });

  it('releases the workflow when the cancelled job was the last one', async () => {
    const { deps, taskId, pilot } = await setup(1);
    await waitForJobs(deps, taskId, 'token-1');
    await deps.tasks.requestCancel(taskId, DEFAULT_START);
    await claimJob(deps, pilotToken('cern'), pilot.pilotId, { taskId, jobIndex: 0, attempt: 1 });
    expect(deps.workflow.releases).toEqual([{ token: 'token-1', output: { taskId } }]);
  });

  it('answers unfit when the resources the pilot offers are too small', async () => {
    const { deps, taskId, pilot } = await setup();
    const response = await claimJob(deps, pilotToken('cern'), pilot.pilotId, {
      taskId,
      jobIndex: 0,
      attempt: 1,
      resources: { ...BIG_PILOT, cores: 1 },
    });
    expect(response).toEqual({ outcome: 'unfit', reason: 'needs 2 cores, pilot has 1' });
    expect((await jobOf(deps, taskId, 0)).state).toBe('queued');
  });

  it('judges fit by the registered resources when the claim gives none', async () => {
    const { deps, taskId } = await setup();
    const small = await addPilot(deps, 'cern', { ...BIG_PILOT, memoryMB: 1000 });
    const response = await claimJob(deps, pilotToken('cern'), small.pilotId, {
      taskId,
      jobIndex: 0,
      attempt: 1,
    });
    expect(response).toEqual({ outcome: 'unfit', reason: 'needs 4000 MB, pilot has 1000' });
  });

  it('throws ForbiddenError when the token is for another site', async () => {
    const { deps, taskId, pilot } = await setup();
    await expect(
      claimJob(deps, pilotToken('bnl'), pilot.pilotId, { taskId, jobIndex: 0, attempt: 1 }),
    ).rejects.toBeInstanceOf(ForbiddenError);
    expect((await jobOf(deps, taskId, 0)).state).toBe('queued');
  });

  it('throws NotFoundError for a pilot that never registered', async () => {
    const { deps, taskId } = await setup();
    await expect(
      claimJob(deps, pilotToken('cern'), 'p-unknown', { taskId, jobIndex: 0, attempt: 1 }),
    ).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('unfit', () => {
  const needs = { cores: 2, memoryMB: 4000, walltimeSec: 3600, diskMB: 1000 };

  it('finds nothing wrong when the pilot offers exactly enough', () => {
    expect(unfit(needs, { cores: 2, memoryMB: 4000, diskMB: 1000, walltimeLeftSec: 3600 })).toBeUndefined();
  });

  it.each([
    [{ cores: 1 }, 'needs 2 cores, pilot has 1'],
    [{ memoryMB: 3999 }, 'needs 4000 MB, pilot has 3999'],
    [{ diskMB: 10 }, 'needs 1000 MB disk, pilot has 10'],
    [{ walltimeLeftSec: 60 }, 'needs 3600 s walltime, pilot has 60 s left'],
  ])('names what is missing (%o)', (less, reason) => {
    expect(unfit(needs, { cores: 2, memoryMB: 4000, diskMB: 1000, walltimeLeftSec: 3600, ...less })).toBe(
      reason,
    );
  });
});

describe('outputPrefix', () => {
  it('names the attempt', () => {
    expect(outputPrefix('t-000001', 3, 2)).toBe('tasks/t-000001/jobs/3/attempt-2/');
  });
});
