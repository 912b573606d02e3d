import { describe, expect, it, vi } from 'vitest';
import { ForbiddenError, PilotGoneError } from '#core/errors.ts';
import { claimedJob, claimJob } from '#core/jobs/claim-job.ts';
import { killEntry } from '#core/pilots/pilot.ts';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import { reapPilots } from '#core/pilots/reap-pilots.ts';
import { parseTaskSpec } from '#core/tasks/task-spec.ts';
import { DEFAULT_START, inMemoryDeps } from '#test/support/in-memory-ports.ts';
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
  taskOf,
} from '../scenario.ts';

const token = pilotToken('cern');
const LATER = '2026-01-01T00:01:00.000Z';

async function setup(spec = generationSpec(3, { resources: { cores: 2, memoryMB: 4000 } })) {
  const deps = inMemoryDeps();
  await addSite(deps);
  const taskId = await runningTask(deps, spec);
  const pilotId = await addPilot(deps);
  return { deps, taskId, pilotId };
}

describe('claimJob', () => {
  it('gives the pilot everything it needs to run the attempt', async () => {
    const { deps, taskId, pilotId } = await setup();
    const response = await claimJob(deps, token, pilotId, claimOf(taskId, 1));
    const { spec } = await taskOf(deps, taskId);
    expect(response).toEqual({
      outcome: 'claimed',
      job: {
        taskId,
        jobId: `${taskId}.1`,
        jobIndex: 1,
        attempt: 1,
        firstEvent: 10,
        nEvents: 10,
        payload: spec.payload,
        resources: spec.resources,
        outputs: ['events.root'],
        outputPrefix: `tasks/${taskId}/jobs/1/attempt-1/`,
        logKey: `tasks/${taskId}/jobs/1/attempt-1/attempt.log`,
      },
    });
  });

  it('creates the job record at its first claim, straight in running, under the pilot and its site', async () => {
    const { deps, taskId, pilotId } = await setup();
    expect(await deps.jobs.get(taskId, 0)).toBeUndefined();
    deps.clock.set(LATER);
    await claimed(deps, pilotId, { taskId, jobIndex: 0, attempt: 1 }, { sentAt: Date.parse(DEFAULT_START) });
    expect(await recordOf(deps, taskId, 0)).toEqual({
      taskId,
      jobIndex: 0,
      state: 'running',
      attempt: 1,
      failures: 0,
      siteId: 'cern',
      pilotId,
      host: 'wn001.example.org',
      queuedAt: DEFAULT_START,
      startedAt: LATER,
      updatedAt: LATER,
    });
  });

  it('lists the attempt in the lease of the pilot, busy, renewed from now', async () => {
    const { deps, taskId, pilotId } = await setup();
    deps.clock.set(LATER);
    await claimed(deps, pilotId, { taskId, jobIndex: 0, attempt: 1 });
    expect(await leaseOf(deps, pilotId)).toMatchObject({
      state: 'busy',
      jobs: [`${taskId}.0.1`],
      expiresAt: Date.parse(LATER) + deps.settings.leaseSec * 1000,
    });
  });

  it('writes the lease before the job record, so a pilot that vanishes mid-claim leaves a trace', async () => {
    const { deps, taskId, pilotId } = await setup();
    const hold = vi.spyOn(deps.leases, 'hold');
    const update = vi.spyOn(deps.jobs, 'update');
    await claimed(deps, pilotId, { taskId, jobIndex: 0, attempt: 1 });
    expect(hold.mock.invocationCallOrder[0]).toBeLessThan(update.mock.invocationCallOrder[0] ?? 0);
  });

  it('keeps the attempts the pilot says it still holds in its lease', async () => {
    const { deps, taskId, pilotId } = await setup();
    await claimed(deps, pilotId, { taskId, jobIndex: 0, attempt: 1 });
    await claimed(
      deps,
      pilotId,
      { taskId, jobIndex: 1, attempt: 1 },
      { holds: [{ taskId, jobIndex: 0, attempt: 1 }] },
    );
    expect((await leaseOf(deps, pilotId)).jobs).toEqual([`${taskId}.0.1`, `${taskId}.1.1`]);
  });

  it('records the report it carries, then holds only the new attempt and drops the kills of the reported one', async () => {
    const { deps, taskId, pilotId } = await setup();
    const first = { taskId, jobIndex: 0, attempt: 1 };
    await claimed(deps, pilotId, first);
    await deps.leases.addKills(pilotId, [killEntry(`${taskId}.0.1`, 'cancelled'), 'other|cancelled']);
    const response = await claimJob(deps, token, pilotId, claimOf(taskId, 1, 1, { report: report(first) }));
    expect(response.outcome).toBe('claimed');
    expect(response.report).toEqual({ outcome: 'recorded', jobState: 'finished', attempt: 1 });
    expect((await recordOf(deps, taskId, 0)).state).toBe('finished');
    expect(await leaseOf(deps, pilotId)).toMatchObject({
      jobs: [`${taskId}.1.1`],
      kill: ['other|cancelled'],
    });
  });

  it('answers a replayed claim as the first (the answer was lost), writing nothing more', async () => {
    const { deps, taskId, pilotId } = await setup();
    const first = await claimed(deps, pilotId, { taskId, jobIndex: 0, attempt: 1 });
    const record = await recordOf(deps, taskId, 0);
    deps.clock.set(LATER);
    const again = await claimJob(deps, token, pilotId, claimOf(taskId, 0));
    expect(again).toEqual({ outcome: 'claimed', job: first });
    expect(await recordOf(deps, taskId, 0)).toEqual(record);
    expect((await leaseOf(deps, pilotId)).jobs).toEqual([`${taskId}.0.1`]);
  });

  it('keeps a later attempt in the lease when a claim carrying a report is replayed', async () => {
    const { deps, taskId, pilotId } = await setup();
    const first = { taskId, jobIndex: 0, attempt: 1 };
    await claimed(deps, pilotId, first);
    await complete(deps, pilotId, report(first, PILOT_ERROR_CODES.PAYLOAD_FAILED));
    await claimed(deps, pilotId, { taskId, jobIndex: 1, attempt: 1 });
    const request = claimOf(taskId, 0, 2, { report: report({ taskId, jobIndex: 1, attempt: 1 }) });
    expect((await claimJob(deps, token, pilotId, request)).outcome).toBe('claimed');
    const replay = await claimJob(deps, token, pilotId, request);
    expect(replay).toMatchObject({
      outcome: 'claimed',
      report: { outcome: 'recorded', jobState: 'finished' },
    });
    // The pilot runs attempt 2 of job 0: were it lost, the reaper must find it in the lease.
    expect((await leaseOf(deps, pilotId)).jobs).toEqual([`${taskId}.0.2`]);
  });

  it('answers stale to a duplicate message of a job another pilot holds, which keeps it', async () => {
    const { deps, taskId, pilotId } = await setup();
    const other = await addPilot(deps, 'cern', BIG_PILOT, 'wn002.example.org');
    await claimed(deps, pilotId, { taskId, jobIndex: 0, attempt: 1 });
    expect(await claimJob(deps, token, other, claimOf(taskId, 0))).toEqual({
      outcome: 'stale',
      reason: 'the job is running at attempt 1',
    });
    expect((await recordOf(deps, taskId, 0)).pilotId).toBe(pilotId);
  });

  it('gives the job to exactly one of two pilots claiming it at once', async () => {
    const { deps, taskId, pilotId } = await setup();
    const other = await addPilot(deps, 'cern', BIG_PILOT, 'wn002.example.org');
    const responses = await Promise.all([
      claimJob(deps, token, pilotId, claimOf(taskId, 0)),
      claimJob(deps, token, other, claimOf(taskId, 0)),
    ]);
    expect(responses.map((r) => r.outcome).sort()).toEqual(['claimed', 'stale']);
    const winner = responses[0]?.outcome === 'claimed' ? pilotId : other;
    expect((await recordOf(deps, taskId, 0)).pilotId).toBe(winner);
  });

  it('answers stale to a message of an attempt that is not queued', async () => {
    const { deps, taskId, pilotId } = await setup();
    expect(await claimJob(deps, token, pilotId, claimOf(taskId, 0, 2))).toEqual({
      outcome: 'stale',
      reason: 'no attempt 2 of this job is queued',
    });
    await claimed(deps, pilotId, { taskId, jobIndex: 0, attempt: 1 });
    await complete(
      deps,
      pilotId,
      report({ taskId, jobIndex: 0, attempt: 1 }, PILOT_ERROR_CODES.PAYLOAD_FAILED),
    );
    expect(await claimJob(deps, token, pilotId, claimOf(taskId, 0, 3))).toEqual({
      outcome: 'stale',
      reason: 'the job is queued at attempt 2',
    });
    expect(await claimJob(deps, token, pilotId, claimOf(taskId, 0, 1))).toEqual({
      outcome: 'stale',
      reason: 'the job is queued at attempt 2',
    });
  });

  it.each([
    ['no such job', (taskId: string) => claimOf(taskId, 3)],
    ['no such task', () => claimOf('t-999999', 0)],
  ])('answers stale (%s) for a job that does not exist', async (reason, request) => {
    const { deps, taskId, pilotId } = await setup();
    expect(await claimJob(deps, token, pilotId, request(taskId))).toEqual({ outcome: 'stale', reason });
  });

  it('answers stale for a job of a task that ended', async () => {
    const { deps, taskId, pilotId } = await setup();
    await deps.tasks.transition(taskId, 'fail', { at: LATER, reason: 'boom' });
    expect(await claimJob(deps, token, pilotId, claimOf(taskId, 0))).toEqual({
      outcome: 'stale',
      reason: 'the task is failed',
    });
  });

  it('answers cancelled for a job of a cancelled task and writes no record', async () => {
    const { deps, taskId, pilotId } = await setup();
    await deps.tasks.requestCancel(taskId, LATER);
    expect(await claimJob(deps, token, pilotId, claimOf(taskId, 0))).toEqual({
      outcome: 'cancelled',
      reason: 'the task was cancelled',
    });
    expect(await deps.jobs.get(taskId, 0)).toBeUndefined();
    expect((await leaseOf(deps, pilotId)).jobs).toEqual([]);
  });

  it('still records the report a refused claim carries, and frees the lease of the reported attempt', async () => {
    const { deps, taskId, pilotId } = await setup();
    const first = { taskId, jobIndex: 0, attempt: 1 };
    await claimed(deps, pilotId, first);
    await deps.tasks.requestCancel(taskId, LATER);
    const response = await claimJob(deps, token, pilotId, claimOf(taskId, 1, 1, { report: report(first) }));
    expect(response).toEqual({
      outcome: 'cancelled',
      reason: 'the task was cancelled',
      report: { outcome: 'recorded', jobState: 'finished', attempt: 1 },
    });
    expect(await leaseOf(deps, pilotId)).toMatchObject({ jobs: [], state: 'idle' });
  });

  it.each([
    [{ cores: 1 }, 'needs 2 cores, pilot has 1'],
    [{ memoryMB: 3999 }, 'needs 4000 MB memory, pilot has 3999'],
    [{ walltimeLeftSec: 60 }, 'needs 3600 s walltime, pilot has 60 s'],
    [{ diskMB: 10 }, 'needs 1000 MB disk, pilot has 10'],
  ])(
    'answers unfit when the pilot offers too little (%o), leaving the job to others',
    async (less, reason) => {
      const { deps, taskId, pilotId } = await setup();
      const response = await claimJob(
        deps,
        token,
        pilotId,
        claimOf(taskId, 0, 1, { resources: { ...BIG_PILOT, ...less } }),
      );
      expect(response).toEqual({ outcome: 'unfit', reason });
      expect(await deps.jobs.get(taskId, 0)).toBeUndefined();
      expect((await leaseOf(deps, pilotId)).jobs).toEqual([]);
    },
  );

  it('gives a retry the resources raised after a memory kill, and judges fit by them', async () => {
    const { deps, taskId, pilotId } = await setup(generationSpec(1, { resources: { memoryMB: 1000 } }));
    const first = { taskId, jobIndex: 0, attempt: 1 };
    await claimed(deps, pilotId, first);
    await complete(deps, pilotId, report(first, PILOT_ERROR_CODES.MEMORY_EXCEEDED));
    const small = { ...BIG_PILOT, memoryMB: 1200 };
    expect(await claimJob(deps, token, pilotId, claimOf(taskId, 0, 2, { resources: small }))).toEqual({
      outcome: 'unfit',
      reason: 'needs 1500 MB memory, pilot has 1200',
    });
    const job = await claimed(deps, pilotId, { taskId, jobIndex: 0, attempt: 2 });
    expect(job.resources.memoryMB).toBe(1500);
    expect(job.outputPrefix).toBe(`tasks/${taskId}/jobs/0/attempt-2/`);
    expect(await recordOf(deps, taskId, 0)).toMatchObject({
      state: 'running',
      attempt: 2,
      failures: 1,
      pilotId,
    });
  });

  it('keeps the time the retry was queued when the message carries none', async () => {
    const { deps, taskId, pilotId } = await setup();
    const first = { taskId, jobIndex: 0, attempt: 1 };
    await claimed(deps, pilotId, first);
    deps.clock.set(LATER);
    await complete(deps, pilotId, report(first, PILOT_ERROR_CODES.EVICTED));
    deps.clock.advance(5000);
    await claimed(deps, pilotId, { taskId, jobIndex: 0, attempt: 2 });
    expect((await recordOf(deps, taskId, 0)).queuedAt).toBe(LATER);
  });

  it('throws PilotGoneError for a pilot that never registered, and claims nothing', async () => {
    const { deps, taskId } = await setup();
    const error = await claimJob(deps, token, 'p-999999', claimOf(taskId, 0)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PilotGoneError);
    expect((error as PilotGoneError).code).toBe('PILOT_GONE');
    expect(await deps.jobs.get(taskId, 0)).toBeUndefined();
  });

  it('throws PilotGoneError for a pilot whose lease the reaper took', async () => {
    const { deps, taskId, pilotId } = await setup();
    expireLeases(deps);
    await reapPilots(deps);
    await expect(claimJob(deps, token, pilotId, claimOf(taskId, 0))).rejects.toBeInstanceOf(PilotGoneError);
    expect(await deps.jobs.get(taskId, 0)).toBeUndefined();
  });

  it('throws PilotGoneError naming the state of a pilot lost but not yet swept', async () => {
    const { deps, taskId, pilotId } = await setup();
    expireLeases(deps);
    await deps.leases.markLost(pilotId, deps.clock.now().getTime());
    await expect(claimJob(deps, token, pilotId, claimOf(taskId, 0))).rejects.toThrow(
      `pilot ${pilotId} is lost`,
    );
  });

  it("throws ForbiddenError when the token is another site's, and the job stays unclaimed", async () => {
    const { deps, taskId, pilotId } = await setup();
    await addSite(deps, { siteId: 'bnl' });
    const error = await claimJob(deps, pilotToken('bnl'), pilotId, claimOf(taskId, 0)).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ForbiddenError);
    expect((error as Error).message).toBe('this pilot token is for site bnl, not cern');
    expect(await deps.jobs.get(taskId, 0)).toBeUndefined();
  });

  it('lets a token for any site (pilot:*) claim, recording the site of the lease', async () => {
    const { deps, taskId, pilotId } = await setup();
    const response = await claimJob(deps, pilotToken('*'), pilotId, claimOf(taskId, 0));
    expect(response.outcome).toBe('claimed');
    expect((await recordOf(deps, taskId, 0)).siteId).toBe('cern');
  });
});

describe('claimedJob', () => {
  it('gives a file job its inputs with the checksums and sizes the spec states', () => {
    const spec = parseTaskSpec({
      name: 'reco',
      payload: { command: 'reco' },
      inputs: {
        files: [
          { name: 'inputs/a.root', adler32: '0a1b2c3d', bytes: 10, events: 4 },
          'inputs/b.root',
          's3://raw/c.root',
        ],
      },
      split: { filesPerJob: 2 },
    });
    const job = claimedJob(spec, { taskId: 't-000001', jobIndex: 0, attempt: 3 }, spec.resources);
    expect(job.inputs).toEqual([
      { name: 'inputs/a.root', adler32: '0a1b2c3d', bytes: 10, events: 4 },
      { name: 'inputs/b.root' },
    ]);
    expect(job).not.toHaveProperty('firstEvent');
    expect(job).not.toHaveProperty('nEvents');
    expect(job.logKey).toBe('tasks/t-000001/jobs/0/attempt-3/attempt.log');
  });
});
