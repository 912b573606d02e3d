import { describe, expect, it } from 'vitest';
import type { SiteDemand } from '#core/api/sites.ts';
import {
  type BatchJob,
  type BatchPlugin,
  BatchSystemError,
  type PilotJobSpec,
  type SubmitOutcome,
} from '#pilot/factory/batch-plugin.ts';
import { PilotFactoryAgent, type PilotFactoryAgentConfig } from '#pilot/factory/pilot-factory-agent.ts';
import { silentLogger } from '#platform/logger.ts';

/** A batch system in memory: submitted jobs stay pending until start() or finish(). */
class FakeBatch implements BatchPlugin {
  readonly name = 'fake';
  jobs: BatchJob[] = [];
  specs: PilotJobSpec[] = [];
  cancelled: string[] = [];
  failSubmitAfter = Number.POSITIVE_INFINITY;
  failList = false;
  private next = 100;

  async submit(count: number, spec: PilotJobSpec): Promise<SubmitOutcome> {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      if (ids.length >= this.failSubmitAfter) return { ids, error: new BatchSystemError('queue full') };
      const id = String(this.next++);
      this.jobs.push({ id, state: 'pending', rawState: 'PENDING' });
      this.specs.push(spec);
      ids.push(id);
    }
    return { ids };
  }

  async list(): Promise<BatchJob[]> {
    if (this.failList) throw new BatchSystemError('controller down');
    return this.jobs.map((j) => ({ ...j }));
  }

  async cancel(id: string): Promise<void> {
    this.cancelled.push(id);
    this.jobs = this.jobs.filter((j) => j.id !== id);
  }

  start(n: number): void {
    for (const job of this.jobs.filter((j) => j.state === 'pending').slice(0, n)) job.state = 'running';
  }

  count(state: BatchJob['state']): number {
    return this.jobs.filter((j) => j.state === state).length;
  }
}

function demand(overrides: Partial<SiteDemand> = {}): SiteDemand {
  return {
    siteId: 'cern',
    status: 'online',
    queuedJobs: 0,
    pilots: { starting: 0, idle: 0, busy: 0, draining: 0 },
    maxPilots: 100,
    pilotsWanted: 0,
    slot: { cores: 4, memoryMB: 8000, walltimeSec: 7200, diskMB: 20_000 },
    ...overrides,
  };
}

const config: PilotFactoryAgentConfig = {
  apiUrl: 'https://api.example',
  token: 'tok',
  siteId: 'cern',
  intervalSec: 60,
  maxPending: 10,
  pilotCommand: ['/opt/gluon-pilot'],
  jobName: 'gluon-pilot-cern',
  logDir: '/logs',
  pilotEnv: { AWS_REGION: 'eu-west-1' },
};

function agent(
  batch: FakeBatch,
  answer: () => SiteDemand | Promise<SiteDemand>,
  overrides: Partial<PilotFactoryAgentConfig> = {},
) {
  return new PilotFactoryAgent(
    { ...config, ...overrides },
    {
      fetchDemand: async () => answer(),
      batch,
      logger: silentLogger,
    },
  );
}

describe('PilotFactoryAgent.cycle', () => {
  it('submits what the site wants, sized by its slot, with the token in the pilots’ environment', async () => {
    const batch = new FakeBatch();
    const report = await agent(batch, () => demand({ queuedJobs: 3, pilotsWanted: 3 })).cycle();
    expect(report.submitted).toEqual(['100', '101', '102']);
    const spec = batch.specs[0] as PilotJobSpec;
    expect(spec).toMatchObject({ cores: 4, memoryMB: 8000, walltimeSec: 7200, jobName: 'gluon-pilot-cern' });
    expect(spec.env).toEqual({ AWS_REGION: 'eu-west-1', GLUON_PILOT_TOKEN: 'tok' });
    expect(spec.command).toEqual([
      '/opt/gluon-pilot',
      'run',
      '--api-url',
      'https://api.example',
      '--site',
      'cern',
      '--batch-id',
      '{batchId}',
      '--walltime-sec',
      String(7200 - 300),
      '--cores',
      '4',
      '--memory-mb',
      '8000',
    ]);
    expect(spec.command).not.toContain('tok');
  });

  it('starts the pilot with every word of pilotCommand and appends pilotArgs when they are given', async () => {
    const batch = new FakeBatch();
    await agent(batch, () => demand({ pilotsWanted: 1 }), {
      pilotCommand: ['node', 'pilot/main.ts'],
      pilotArgs: ['--idle-exit-sec', '30'],
    }).cycle();
    const command = batch.specs[0]?.command ?? [];
    expect(command.slice(0, 3)).toEqual(['node', 'pilot/main.ts', 'run']);
    expect(command.slice(-2)).toEqual(['--idle-exit-sec', '30']);
    expect(command).toContain('{batchId}');
  });

  it('lets flags override the slot', async () => {
    const batch = new FakeBatch();
    await agent(batch, () => demand({ pilotsWanted: 1 }), {
      cores: 1,
      memoryMB: 2000,
      walltimeSec: 600,
    }).cycle();
    expect(batch.specs[0]).toMatchObject({ cores: 1, memoryMB: 2000, walltimeSec: 600 });
    expect(batch.specs[0]?.command).toContain(String(600 - 30));
  });

  it('never floods: with a huge demand and nothing starting, pending stays at --max-pending over many cycles', async () => {
    const batch = new FakeBatch();
    const factory = agent(batch, () => demand({ queuedJobs: 100_000, pilotsWanted: 100 }), { maxPending: 5 });
    for (let i = 0; i < 20; i++) {
      await factory.cycle();
      expect(batch.count('pending')).toBeLessThanOrEqual(5);
    }
    expect(batch.jobs).toHaveLength(5);
  });

  it('refills the pending pilots as the batch system starts them, up to maxPilots in all', async () => {
    const batch = new FakeBatch();
    const factory = agent(batch, () => demand({ queuedJobs: 1000, pilotsWanted: 1000, maxPilots: 12 }), {
      maxPending: 4,
    });
    for (let i = 0; i < 10; i++) {
      await factory.cycle();
      expect(batch.count('pending')).toBeLessThanOrEqual(4);
      expect(batch.jobs.length).toBeLessThanOrEqual(12);
      batch.start(2);
    }
    expect(batch.jobs).toHaveLength(12);
  });

  it('does not submit again for pilots the batch system started but the API does not know yet', async () => {
    const batch = new FakeBatch();
    await batch.submit(3, {} as PilotJobSpec);
    batch.start(3);
    const booting = await agent(batch, () => demand({ queuedJobs: 5, pilotsWanted: 5 })).cycle();
    expect(booting).toMatchObject({ running: 3, unregistered: 3, submitted: ['103', '104'] });

    const registered = await agent(batch, () =>
      demand({ queuedJobs: 5, pilotsWanted: 0, pilots: { starting: 3, idle: 0, busy: 2, draining: 0 } }),
    ).cycle();
    expect(registered).toMatchObject({ running: 3, unregistered: 0, submitted: [] });
  });

  it('takes the smaller of the site’s maxPilots and --max-pilots', async () => {
    const batch = new FakeBatch();
    const report = await agent(batch, () => demand({ pilotsWanted: 50, maxPilots: 40 }), {
      maxPilots: 3,
    }).cycle();
    expect(report.maxPilots).toBe(3);
    expect(report.submitted).toHaveLength(3);
  });

  it('submits nothing when the site wants no pilots', async () => {
    const batch = new FakeBatch();
    const report = await agent(batch, () => demand({ queuedJobs: 5, pilotsWanted: 0 })).cycle();
    expect(report.submitted).toEqual([]);
    expect(batch.jobs).toEqual([]);
  });

  it('cancels its pending pilots when the site is offline, and leaves running ones', async () => {
    const batch = new FakeBatch();
    let answer = demand({ pilotsWanted: 4 });
    const factory = agent(batch, () => answer);
    await factory.cycle();
    batch.start(1);
    answer = demand({ status: 'offline', pilotsWanted: 0 });
    const report = await factory.cycle();
    expect(report.cancelled).toEqual(['101', '102', '103']);
    expect(batch.jobs.map((j) => [j.id, j.state])).toEqual([['100', 'running']]);
  });

  it('submits nothing when the demand cannot be fetched', async () => {
    const batch = new FakeBatch();
    const factory = agent(batch, () => Promise.reject(new Error('API down')));
    await expect(factory.cycle()).rejects.toThrow('API down');
    expect(batch.jobs).toEqual([]);
  });

  it('submits nothing when the batch system cannot list its pilots', async () => {
    const batch = new FakeBatch();
    batch.failList = true;
    await expect(agent(batch, () => demand({ pilotsWanted: 5 })).cycle()).rejects.toThrow('controller down');
    expect(batch.jobs).toEqual([]);
  });

  it('reports the pilots submitted before the batch system refused more', async () => {
    const batch = new FakeBatch();
    batch.failSubmitAfter = 2;
    const report = await agent(batch, () => demand({ pilotsWanted: 5 })).cycle();
    expect(report.submitted).toEqual(['100', '101']);
  });
});

describe('PilotFactoryAgent.run', () => {
  it('runs one cycle with once, exit code 0 when it worked and 1 when it failed', async () => {
    const batch = new FakeBatch();
    const stop = new AbortController();
    expect(await agent(batch, () => demand({ pilotsWanted: 1 })).run(stop.signal, { once: true })).toBe(0);
    expect(batch.jobs).toHaveLength(1);
    const failing = agent(batch, () => Promise.reject(new Error('down')));
    expect(await failing.run(stop.signal, { once: true })).toBe(1);
  });

  it('cycles until aborted, then returns 0 without cancelling its pilots', async () => {
    const batch = new FakeBatch();
    const stop = new AbortController();
    let cycles = 0;
    const factory = agent(
      batch,
      () => {
        cycles++;
        if (cycles === 3) stop.abort();
        return demand({ pilotsWanted: 1 });
      },
      { intervalSec: 1 },
    );
    // Interval 1 s: keep the test short by aborting on the third look.
    const code = await factory.run(stop.signal);
    expect(code).toBe(0);
    expect(cycles).toBe(3);
    expect(batch.cancelled).toEqual([]);
  }, 10_000);
});
