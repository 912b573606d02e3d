import { describe, expect, it, vi } from 'vitest';
import { listPilots, pilotView } from '#core/pilots/list-pilots.ts';
import type { Pilot } from '#core/pilots/pilot.ts';
import { pilotHeartbeat } from '#core/pilots/pilot-heartbeat.ts';
import { registerPilot } from '#core/pilots/register-pilot.ts';
import { DEFAULT_START, inMemoryDeps } from '#test/support/in-memory-ports.ts';
import {
  addPilot,
  addSite,
  BIG_PILOT,
  claimed,
  generationSpec,
  pilotToken,
  runningTask,
} from '../scenario.ts';

const pilot: Pilot = {
  pilotId: 'p-000001',
  siteId: 'cern',
  host: 'wn001',
  pid: 1,
  version: 'dev',
  resources: BIG_PILOT,
  state: 'starting',
  registeredAt: DEFAULT_START,
};

describe('pilotView', () => {
  it('shows a live pilot in the state of its lease, with the lease', () => {
    const view = pilotView(pilot, {
      pilotId: 'p-000001',
      siteId: 'cern',
      state: 'busy',
      expiresAt: Date.parse('2026-01-01T00:02:00.000Z'),
      jobs: ['t-000001.0.1'],
      kill: ['t-000001.0.1|cancelled'],
      jobsRun: 2,
      beatAt: DEFAULT_START,
    });
    expect(view).toEqual({
      ...pilot,
      state: 'busy',
      jobsRun: 2,
      lease: {
        state: 'busy',
        expiresAt: '2026-01-01T00:02:00.000Z',
        beatAt: DEFAULT_START,
        jobs: ['t-000001.0.1'],
      },
    });
  });

  it('shows a pilot without a lease as the registry recorded it', () => {
    expect(pilotView({ ...pilot, state: 'exited', endedAt: DEFAULT_START }, undefined)).toEqual({
      ...pilot,
      state: 'exited',
      endedAt: DEFAULT_START,
    });
  });
});

describe('listPilots', () => {
  it('lists live pilots with their leases and ended pilots without reading a lease', async () => {
    const deps = inMemoryDeps();
    await addSite(deps);
    const taskId = await runningTask(deps, generationSpec(1));
    const busy = await addPilot(deps);
    await claimed(deps, busy, { taskId, jobIndex: 0, attempt: 1 });
    const { pilotId: unhealthy } = await registerPilot(deps, pilotToken('cern'), {
      siteId: 'cern',
      host: 'wn002',
      pid: 2,
      version: 'dev',
      resources: BIG_PILOT,
      health: [{ name: 'disk', ok: false }],
    });
    const get = vi.spyOn(deps.leases, 'get');
    const { items, nextToken } = await listPilots(deps, { limit: 10 });
    expect(nextToken).toBeUndefined();
    expect(items.map((p) => [p.pilotId, p.state, p.lease?.jobs])).toEqual([
      [busy, 'busy', [`${taskId}.0.1`]],
      [unhealthy, 'unhealthy', undefined],
    ]);
    expect(get.mock.calls).toEqual([[busy]]);
  });

  it('pages through the registry', async () => {
    const deps = inMemoryDeps();
    await addSite(deps);
    const ids = [await addPilot(deps), await addPilot(deps), await addPilot(deps)];
    await pilotHeartbeat({ leases: deps.leases, clock: deps.clock, leaseSec: 120 }, ids[2] ?? '', {
      state: 'idle',
      held: [],
      jobsRun: 0,
    });
    const first = await listPilots(deps, { limit: 2 });
    expect(first.items.map((p) => p.pilotId)).toEqual(ids.slice(0, 2));
    expect(first.nextToken).toBeDefined();
    const second = await listPilots(deps, { limit: 2, nextToken: first.nextToken });
    expect(second.items.map((p) => [p.pilotId, p.state])).toEqual([[ids[2], 'idle']]);
    expect(second.nextToken).toBeUndefined();
  });
});
