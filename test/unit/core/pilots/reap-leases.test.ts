import { describe, expect, it } from 'vitest';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import { pilotHeartbeat } from '#core/pilots/pilot-heartbeat.ts';
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
  runningTask,
  taskOf,
} from '../scenario.ts';

async function setup(jobs = 2, fields: Partial<TaskSpecInput> = {}) {
  const deps = inMemoryDeps();
  await addSite(deps);
  const taskId = await runningTask(deps, generationSpec(jobs, fields));
  const pilot = await addPilot(deps);
  await claimed(deps, pilot, taskId, 0);
  deps.queue.clear();
  return { deps, taskId, pilot };
}

describe('reapLeases', () => {
  it('queues a job whose lease expired as a new attempt and counts the failure', async () => {
    const { deps, taskId, pilot } = await setup();
    deps.clock.advance(deps.settings.leaseSec * 1000 + 1);
    expect(await reapLeases(deps)).toEqual({ jobsReaped: 1, jobsRedispatched: 0, pilotsLost: 0 });
    const job = await jobOf(deps, taskId, 0);
    expect(job).toMatchObject({
      state: 'queued',
      attempt: 2,
      failures: 1,
      pilotErrorCode: PILOT_ERROR_CODES.PILOT_LOST,
    });
    expect(job.pilotId).toBeUndefined();
    // Queued again under a dispatch lease: if its message goes unclaimed, it is sent again.
    expect(job.leaseExpiresAt).toBe(deps.clock.now().getTime() + deps.settings.dispatchLeaseSec * 1000);
    expect(job.attempts).toEqual([
      expect.objectContaining({ attempt: 1, pilotId: pilot.pilotId, state: 'lost', pilotErrorCode: 1304 }),
    ]);
    expect(job.attempts[0]?.errorMessage).toContain(pilot.pilotId);
    expect(deps.queue.sent).toEqual([{ v: 1, taskId, jobIndex: 0, attempt: 2, siteId: 'cern' }]);
    expect((await taskOf(deps, taskId)).counts).toMatchObject({ starting: 0, queued: 2 });
  });

  it('fails a job whose lease expired on its last attempt and releases the workflow', async () => {
    const { deps, taskId } = await setup(1, { maxAttempts: 1 });
    await waitForJobs(deps, taskId, 'token-1');
    deps.clock.advance(deps.settings.leaseSec * 1000 + 1);
    expect((await reapLeases(deps)).jobsReaped).toBe(1);
    expect(await jobOf(deps, taskId, 0)).toMatchObject({ state: 'failed', attempt: 1, failures: 1 });
    expect((await taskOf(deps, taskId)).counts).toMatchObject({ failed: 1, starting: 0 });
    expect(deps.queue.sent).toEqual([]);
    expect(deps.workflow.releases).toEqual([{ token: 'token-1', output: { taskId } }]);
  });

  it('does not reap a lease that was renewed', async () => {
    const { deps, taskId, pilot } = await setup();
    deps.clock.advance(deps.settings.leaseSec * 1000 - 10_000);
    await pilotHeartbeat(deps, pilotToken('cern'), pilot.pilotId, {
      state: 'busy',
      jobs: [{ taskId, jobIndex: 0, attempt: 1, phase: 'running' }],
    });
    deps.clock.advance(20_000);
    expect((await reapLeases(deps)).jobsReaped).toBe(0);
    expect(await jobOf(deps, taskId, 0)).toMatchObject({
      state: 'running',
      attempt: 1,
      pilotId: pilot.pilotId,
    });
    expect(deps.queue.sent).toEqual([]);
  });

  it('does not reap a lease that has not expired yet', async () => {
    const { deps, taskId } = await setup();
    deps.clock.advance(deps.settings.leaseSec * 1000 - 1);
    expect((await reapLeases(deps)).jobsReaped).toBe(0);
    expect((await jobOf(deps, taskId, 0)).state).toBe('starting');
  });

  it('reaps each expired lease once when run twice', async () => {
    const { deps, taskId } = await setup();
    deps.clock.advance(deps.settings.leaseSec * 1000 + 1);
    await reapLeases(deps);
    expect((await reapLeases(deps)).jobsReaped).toBe(0);
    expect(await jobOf(deps, taskId, 0)).toMatchObject({ attempt: 2, failures: 1 });
    expect(deps.queue.sent).toHaveLength(1);
  });

  it('marks pilots silent for too long as lost', async () => {
    const { deps } = await setup();
    deps.clock.advance(deps.settings.pilotLostSec * 1000 + 1);
    const fresh = await addPilot(deps);
    expect((await reapLeases(deps)).pilotsLost).toBe(1);
    expect((await deps.pilots.get('p-000001'))?.state).toBe('lost');
    expect(await deps.pilots.get(fresh.pilotId)).toMatchObject({ state: 'starting' });
    expect(fresh.lastHeartbeatAt > DEFAULT_START).toBe(true);
  });
  it('sends the message of a queued job again when it went unclaimed for the dispatch lease, once per lease', async () => {
    const { deps, taskId } = await setup(2);
    deps.clock.advance(deps.settings.dispatchLeaseSec * 1000 + 1);
    const result = await reapLeases(deps);
    expect(result.jobsRedispatched).toBe(1);
    // Job 1 was never claimed: its message again. (Job 0's pilot went silent too: a new attempt.)
    expect(deps.queue.sent).toContainEqual({ v: 1, taskId, jobIndex: 1, attempt: 1, siteId: 'cern' });
    expect(deps.queue.sent.filter((m) => m.jobIndex === 1)).toHaveLength(1);
    const job = await jobOf(deps, taskId, 1);
    expect(job.state).toBe('queued');
    expect(job.attempt).toBe(1);
    expect(job.leaseExpiresAt).toBe(deps.clock.now().getTime() + deps.settings.dispatchLeaseSec * 1000);
    deps.queue.clear();
    expect((await reapLeases(deps)).jobsRedispatched).toBe(0);
    expect(deps.queue.sent).toEqual([]);
  });
});
