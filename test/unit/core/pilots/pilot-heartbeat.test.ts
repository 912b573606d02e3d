import { describe, expect, it } from 'vitest';
import { ConflictError, ForbiddenError } from '#core/errors.ts';
import { claimJob } from '#core/jobs/claim-job.ts';
import { pilotHeartbeat } from '#core/pilots/pilot-heartbeat.ts';
import { reapLeases } from '#core/pilots/reap-leases.ts';
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

const START = Date.parse(DEFAULT_START);

async function setup() {
  const deps = inMemoryDeps();
  await addSite(deps);
  const taskId = await runningTask(deps, generationSpec(2));
  const pilot = await addPilot(deps);
  await claimed(deps, pilot, taskId, 0);
  return { deps, taskId, pilot };
}

describe('pilotHeartbeat', () => {
  it('moves a starting job to running and renews its lease when the payload runs', async () => {
    const { deps, taskId, pilot } = await setup();
    deps.clock.advance(30_000);
    const response = await pilotHeartbeat(deps, pilotToken('cern'), pilot.pilotId, {
      state: 'busy',
      jobs: [{ taskId, jobIndex: 0, attempt: 1, phase: 'running' }],
    });
    const lease = START + 30_000 + deps.settings.leaseSec * 1000;
    expect(response).toEqual({
      jobs: [{ taskId, jobIndex: 0, attempt: 1, action: 'continue' }],
      leaseExpiresAt: lease,
      serverTime: '2026-01-01T00:00:30.000Z',
    });
    expect(await jobOf(deps, taskId, 0)).toMatchObject({ state: 'running', leaseExpiresAt: lease });
    expect((await taskOf(deps, taskId)).counts).toMatchObject({ starting: 0, running: 1, queued: 1 });
  });

  it('renews the lease of a job that is running already', async () => {
    const { deps, taskId, pilot } = await setup();
    const ref = { taskId, jobIndex: 0, attempt: 1, phase: 'running' as const };
    await pilotHeartbeat(deps, pilotToken('cern'), pilot.pilotId, { state: 'busy', jobs: [ref] });
    deps.clock.advance(60_000);
    const response = await pilotHeartbeat(deps, pilotToken('cern'), pilot.pilotId, {
      state: 'busy',
      jobs: [ref],
    });
    expect(response.jobs[0]?.action).toBe('continue');
    expect((await jobOf(deps, taskId, 0)).leaseExpiresAt).toBe(
      START + 60_000 + deps.settings.leaseSec * 1000,
    );
    expect((await taskOf(deps, taskId)).counts.running).toBe(1);
  });

  it('renews the lease and keeps the job starting while the pilot is staging in', async () => {
    const { deps, taskId, pilot } = await setup();
    deps.clock.advance(10_000);
    const response = await pilotHeartbeat(deps, pilotToken('cern'), pilot.pilotId, {
      state: 'busy',
      jobs: [{ taskId, jobIndex: 0, attempt: 1, phase: 'starting' }],
    });
    expect(response.jobs[0]?.action).toBe('continue');
    expect(await jobOf(deps, taskId, 0)).toMatchObject({
      state: 'starting',
      leaseExpiresAt: START + 10_000 + deps.settings.leaseSec * 1000,
    });
  });

  it('records the pilot state and the job in hand', async () => {
    const { deps, taskId, pilot } = await setup();
    deps.clock.advance(5_000);
    await pilotHeartbeat(deps, pilotToken('cern'), pilot.pilotId, {
      state: 'draining',
      jobs: [{ taskId, jobIndex: 0, attempt: 1, phase: 'running' }],
    });
    expect(await deps.pilots.get(pilot.pilotId)).toMatchObject({
      state: 'draining',
      lastHeartbeatAt: '2026-01-01T00:00:05.000Z',
      currentJobId: `${taskId}.0`,
    });
  });

  it('tells the pilot to kill the jobs of a cancelled task', async () => {
    const { deps, taskId, pilot } = await setup();
    await deps.tasks.requestCancel(taskId, DEFAULT_START);
    const response = await pilotHeartbeat(deps, pilotToken('cern'), pilot.pilotId, {
      state: 'busy',
      jobs: [{ taskId, jobIndex: 0, attempt: 1, phase: 'running' }],
    });
    expect(response.jobs).toEqual([{ taskId, jobIndex: 0, attempt: 1, action: 'kill', reason: 'cancelled' }]);
  });

  it('tells the pilot to kill a job whose lease it lost', async () => {
    const { deps, taskId, pilot } = await setup();
    deps.clock.advance(deps.settings.leaseSec * 1000 + 1);
    expect((await reapLeases(deps)).jobsReaped).toBe(1);
    const response = await pilotHeartbeat(deps, pilotToken('cern'), pilot.pilotId, {
      state: 'busy',
      jobs: [{ taskId, jobIndex: 0, attempt: 1, phase: 'running' }],
    });
    expect(response.jobs).toEqual([
      { taskId, jobIndex: 0, attempt: 1, action: 'kill', reason: 'lease lost' },
    ]);
    expect(await jobOf(deps, taskId, 0)).toMatchObject({ state: 'queued', attempt: 2 });
  });

  it('tells a pilot to kill a job another pilot holds', async () => {
    const { deps, taskId } = await setup();
    const other = await addPilot(deps, 'cern');
    const response = await pilotHeartbeat(deps, pilotToken('cern'), other.pilotId, {
      state: 'busy',
      jobs: [{ taskId, jobIndex: 0, attempt: 1, phase: 'running' }],
    });
    expect(response.jobs[0]).toMatchObject({ action: 'kill', reason: 'lease lost' });
    expect((await jobOf(deps, taskId, 0)).state).toBe('starting');
  });

  it('throws ForbiddenError when the token is for another site', async () => {
    const { deps, pilot } = await setup();
    await expect(
      pilotHeartbeat(deps, pilotToken('bnl'), pilot.pilotId, { state: 'idle', jobs: [] }),
    ).rejects.toBeInstanceOf(ForbiddenError);
  });
  it('refuses heartbeats and claims of an unhealthy, exited or lost pilot: it must register again', async () => {
    const { deps, taskId, pilot } = await setup();
    for (const state of ['unhealthy', 'exited', 'lost'] as const) {
      await deps.pilots.heartbeat(pilot.pilotId, { state, at: DEFAULT_START });
      await expect(
        pilotHeartbeat(deps, pilotToken('cern'), pilot.pilotId, { state: 'idle', jobs: [] }),
      ).rejects.toBeInstanceOf(ConflictError);
      await expect(
        claimJob(deps, pilotToken('cern'), pilot.pilotId, { taskId, jobIndex: 1, attempt: 1 }),
      ).rejects.toBeInstanceOf(ConflictError);
      expect((await deps.pilots.get(pilot.pilotId))?.state).toBe(state);
    }
    expect((await jobOf(deps, taskId, 1)).state).toBe('queued');
  });
});
