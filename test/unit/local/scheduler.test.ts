import type { ScheduledEvent } from 'aws-lambda';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Log } from '#local/log.ts';
import { type Scheduler, startScheduler } from '#local/scheduler.ts';

async function until(what: string, condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

let scheduler: Scheduler | undefined;

afterEach(async () => {
  await scheduler?.stop();
  scheduler = undefined;
});

describe('local scheduler', () => {
  it('calls the handler every period with a ScheduledEvent', async () => {
    const events: ScheduledEvent[] = [];
    scheduler = startScheduler({
      schedules: [{ functionName: 'reap-leases', everySec: 0.02 }],
      handlers: {
        'reap-leases': async (event) => {
          events.push(event as ScheduledEvent);
        },
      },
      log: () => {},
    });
    await until('three runs', () => events.length >= 3);
    expect(events[0]).toMatchObject({ 'detail-type': 'Scheduled Event', source: 'aws.events', detail: {} });
    expect(events[0]?.resources[0]).toMatch(/rule\/gluon-local-reap-leases$/);
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
  });

  it('never overlaps two runs of one function; ticks during a run are skipped', async () => {
    let running = 0;
    let most = 0;
    let runs = 0;
    let release: () => void = () => {};
    scheduler = startScheduler({
      schedules: [{ functionName: 'slow', everySec: 0.01 }],
      handlers: {
        slow: async () => {
          running += 1;
          most = Math.max(most, running);
          await new Promise<void>((resolve) => {
            release = resolve;
          });
          running -= 1;
          runs += 1;
        },
      },
      log: () => {},
    });
    await until('the first run', () => running === 1);
    const stats = (): { skipped: number } => scheduler?.stats()[0] ?? { skipped: 0 };
    await until('skipped ticks', () => stats().skipped >= 3);
    expect(running).toBe(1);
    release();
    await until('a second run', () => runs >= 1 && running === 1);
    release();
    expect(most).toBe(1);
  });

  it('logs a failing run and keeps the schedule going', async () => {
    const errors: string[] = [];
    const log: Log = (level, message, fields) => {
      if (level === 'error')
        errors.push(`${message}: ${String((fields?.error as Error | undefined)?.message)}`);
    };
    let calls = 0;
    scheduler = startScheduler({
      schedules: [{ functionName: 'flaky', everySec: 0.01 }],
      handlers: {
        flaky: async () => {
          calls += 1;
          if (calls === 1) throw new Error('table missing');
        },
      },
      log,
    });
    await until('runs after the failure', () => calls >= 3);
    expect(errors[0]).toBe('scheduled function failed: table missing');
    expect(scheduler.stats()[0]).toMatchObject({ functionName: 'flaky', failures: 1 });
  });

  it('refuses a schedule without a handler', () => {
    expect(() =>
      startScheduler({ schedules: [{ functionName: 'ghost', everySec: 1 }], handlers: {} }),
    ).toThrow(/no handler for scheduled function\(s\) ghost/);
  });

  it('calls no handler any more once stopped, however many periods pass', async () => {
    vi.useFakeTimers();
    try {
      let calls = 0;
      scheduler = startScheduler({
        schedules: [{ functionName: 'tick', everySec: 0.01 }],
        handlers: {
          tick: async () => {
            calls += 1;
          },
        },
        log: () => {},
      });
      await vi.advanceTimersByTimeAsync(30);
      expect(calls).toBe(3);
      await scheduler.stop();
      await vi.advanceTimersByTimeAsync(1_000);
      expect(calls).toBe(3);
    } finally {
      vi.useRealTimers();
    }
  });
});
