import { describe, expect, it } from 'vitest';
import { NotFoundError } from '#core/errors.ts';
import { pilotHeartbeat } from '#core/pilots/pilot-heartbeat.ts';
import { explainTask } from '#core/tasks/explain-task.ts';
import { inMemoryDeps, siteOf } from '#test/support/in-memory-ports.ts';
import {
  addPilot,
  addSite,
  alice,
  BIG_SLOT,
  bob,
  claimed,
  generationSpec,
  pilotToken,
  runningTask,
} from '../scenario.ts';

async function setup(jobs = 3) {
  const deps = inMemoryDeps();
  await addSite(deps);
  await deps.sites.put(siteOf({ siteId: 'tiny', slot: { cores: 1, memoryMB: 100 } }));
  const taskId = await runningTask(deps, generationSpec(jobs));
  return { deps, taskId };
}

describe('explainTask', () => {
  it('says that no pilot runs at the site when jobs are queued and nothing picks them up', async () => {
    const { deps, taskId } = await setup();
    const why = await explainTask(deps, alice, taskId);
    expect(why.state).toBe('running');
    expect(why.findings[0]).toBe('3 of 3 jobs are queued.');
    expect(why.findings).toContainEqual(
      expect.stringContaining('No pilot is running at cern: 3 job messages wait'),
    );
    const cern = why.sites.find((s) => s.siteId === 'cern');
    expect(cern).toMatchObject({
      chosen: true,
      status: 'online',
      queuedJobs: 3,
      pilots: { idle: 0, busy: 0 },
    });
    // Brokerage's reason for a site it did not choose.
    expect(why.sites.find((s) => s.siteId === 'tiny')).toMatchObject({
      chosen: false,
      rejected: expect.stringContaining('MB'),
    });
  });

  it('says that all pilots are busy, or that idle ones should take the jobs soon', async () => {
    const { deps, taskId } = await setup();
    const pilot = await addPilot(deps);
    await claimed(deps, pilot, taskId, 0);
    await pilotHeartbeat(deps, pilotToken('cern'), pilot.pilotId, {
      state: 'busy',
      jobs: [{ taskId, jobIndex: 0, attempt: 1, phase: 'running' }],
    });
    let why = await explainTask(deps, alice, taskId);
    expect(why.findings).toContainEqual(expect.stringContaining('All 1 pilots at cern are busy'));
    expect(why.findings).toContain('1 jobs are starting or running.');
    const other = await addPilot(deps);
    await deps.pilots.heartbeat(other.pilotId, { state: 'idle', at: new Date().toISOString() });
    why = await explainTask(deps, alice, taskId);
    expect(why.findings).toContainEqual(expect.stringContaining('1 pilots at cern are idle or starting'));
  });

  it('says a site is offline, and hides the task from other users', async () => {
    const { deps, taskId } = await setup();
    await deps.sites.put(siteOf({ siteId: 'cern', slot: BIG_SLOT, status: 'offline' }));
    const why = await explainTask(deps, alice, taskId);
    expect(why.findings).toContainEqual(expect.stringContaining('Site cern is offline'));
    await expect(explainTask(deps, bob, taskId)).rejects.toBeInstanceOf(NotFoundError);
  });
});
