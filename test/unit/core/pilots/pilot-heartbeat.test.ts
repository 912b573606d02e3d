import { describe, expect, it } from 'vitest';
import { pilotHeartbeat } from '#core/pilots/pilot-heartbeat.ts';
import { reapPilots } from '#core/pilots/reap-pilots.ts';
import { cancelTask } from '#core/tasks/cancel-task.ts';
import { cancelJobs } from '#core/tasks/task-workflow.ts';
import { type InMemoryDeps, inMemoryDeps } from '#test/support/in-memory-ports.ts';
import {
  addPilot,
  addSite,
  alice,
  claimed,
  expireLeases,
  generationSpec,
  jobRef,
  leaseOf,
  runningTask,
} from '../scenario.ts';

const BEAT_AT = '2026-01-01T00:01:00.000Z';

function beat(
  deps: InMemoryDeps,
  pilotId: string,
  fields: Partial<Parameters<typeof pilotHeartbeat>[2]> = {},
) {
  return pilotHeartbeat(
    { leases: deps.leases, clock: deps.clock, leaseSec: deps.settings.leaseSec },
    pilotId,
    {
      state: 'idle',
      held: [],
      jobsRun: 0,
      ...fields,
    },
  );
}

async function setup(jobs = 3) {
  const deps = inMemoryDeps();
  await addSite(deps);
  const taskId = await runningTask(deps, generationSpec(jobs));
  const pilotId = await addPilot(deps);
  const refs = Array.from({ length: jobs }, (_, jobIndex) => ({ taskId, jobIndex, attempt: 1 }));
  return { deps, taskId, pilotId, refs };
}

describe('pilotHeartbeat', () => {
  it('renews the lease from now and records the state, the beat and the jobs run', async () => {
    const { deps, pilotId } = await setup();
    deps.clock.set(BEAT_AT);
    expect(await beat(deps, pilotId, { state: 'idle', jobsRun: 4 })).toEqual({
      pilot: 'live',
      jobs: [],
      unknown: [],
    });
    expect(await leaseOf(deps, pilotId)).toMatchObject({
      state: 'idle',
      beatAt: BEAT_AT,
      jobsRun: 4,
      expiresAt: Date.parse(BEAT_AT) + deps.settings.leaseSec * 1000,
    });
  });

  it('writes once per beat, whatever the number of jobs the pilot holds', async () => {
    const { deps, pilotId, refs } = await setup();
    let holds: typeof refs = [];
    for (const ref of refs) {
      await claimed(deps, pilotId, ref, { holds });
      holds = [...holds, ref];
    }
    const writes = deps.leases.writes;
    const answer = await beat(deps, pilotId, { state: 'busy', held: refs });
    expect(deps.leases.writes - writes).toBe(1);
    expect(answer).toEqual({
      pilot: 'live',
      jobs: refs.map((r) => ({ ...r, action: 'continue' })),
      unknown: [],
    });
  });

  it('tells the pilot to kill the jobs of a task cancelled since', async () => {
    const { deps, taskId, pilotId } = await setup(2);
    const job0 = jobRef(taskId, 0);
    await claimed(deps, pilotId, job0);
    await cancelTask(deps, alice, taskId);
    await cancelJobs(deps, taskId, 0);
    expect(await beat(deps, pilotId, { state: 'busy', held: [job0] })).toEqual({
      pilot: 'live',
      jobs: [{ ...job0, action: 'kill-cancelled' }],
      unknown: [],
    });
  });

  it('names an attempt the lease holds that the pilot never heard it claimed', async () => {
    const { deps, taskId, pilotId } = await setup(1);
    const job0 = jobRef(taskId, 0);
    await claimed(deps, pilotId, job0);
    expect(await beat(deps, pilotId, { state: 'idle' })).toEqual({
      pilot: 'live',
      jobs: [],
      unknown: [job0],
    });
  });

  it('says the pilot is gone once the reaper declared it lost, and renews nothing', async () => {
    const { deps, pilotId } = await setup();
    expireLeases(deps);
    await reapPilots(deps);
    const writes = deps.leases.writes;
    expect(await beat(deps, pilotId, { state: 'busy' })).toEqual({ pilot: 'gone' });
    expect(deps.leases.writes).toBe(writes);
    expect(await deps.leases.get(pilotId)).toBeUndefined();
  });

  it('says the pilot is gone when its lease is lost but not yet swept', async () => {
    const { deps, pilotId } = await setup();
    expireLeases(deps);
    await deps.leases.markLost(pilotId, deps.clock.now().getTime());
    expect(await beat(deps, pilotId)).toEqual({ pilot: 'gone' });
    expect((await leaseOf(deps, pilotId)).state).toBe('lost');
  });

  it('records the exit of a live pilot, which then has nothing to do', async () => {
    const { deps, pilotId } = await setup();
    expect(await beat(deps, pilotId, { state: 'exited', jobsRun: 7 })).toEqual({
      pilot: 'live',
      jobs: [],
      unknown: [],
    });
    expect(await leaseOf(deps, pilotId)).toMatchObject({ state: 'exited', jobsRun: 7 });
    expect(await beat(deps, pilotId, { state: 'idle' })).toEqual({ pilot: 'gone' });
  });
});
