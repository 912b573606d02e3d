import { randomUUID } from 'node:crypto';
import type { ScheduledEvent } from 'aws-lambda';
import { type HandlerMap, invokeHandler } from './lambda-handler.ts';
import { consoleLog, type Log } from './log.ts';

/**
 * EventBridge schedules on one machine: a timer per scheduled function calling its handler with a
 * ScheduledEvent. A run never overlaps the previous run of the same function (a tick that finds
 * it still running is skipped); errors are logged and the schedule goes on.
 */
export interface Schedule {
  functionName: string;
  everySec: number;
}

export interface SchedulerOptions {
  schedules: readonly Schedule[];
  handlers: HandlerMap;
  log?: Log;
}

export interface ScheduleStats {
  functionName: string;
  runs: number;
  failures: number;
  skipped: number;
  running: boolean;
}

export interface Scheduler {
  stats(): ScheduleStats[];
  /** Stops the timers and waits (bounded) for runs in progress. */
  stop(): Promise<void>;
}

const STOP_GRACE_MS = 5_000;

export function startScheduler(options: SchedulerOptions): Scheduler {
  const log = options.log ?? consoleLog;
  const missing = options.schedules.filter((s) => options.handlers[s.functionName] === undefined);
  if (missing.length > 0) {
    throw new Error(`no handler for scheduled function(s) ${missing.map((s) => s.functionName).join(', ')}`);
  }

  interface Slot {
    schedule: Schedule;
    timer: NodeJS.Timeout;
    current: Promise<void> | undefined;
    stats: ScheduleStats;
  }
  let stopping = false;

  const slots: Slot[] = options.schedules.map((schedule) => {
    if (!(schedule.everySec > 0))
      throw new Error(`schedule of ${schedule.functionName}: everySec must be > 0`);
    const slot: Slot = {
      schedule,
      current: undefined,
      stats: { functionName: schedule.functionName, runs: 0, failures: 0, skipped: 0, running: false },
      timer: setInterval(() => tick(slot), schedule.everySec * 1000),
    };
    return slot;
  });

  function tick(slot: Slot): void {
    if (stopping) return;
    if (slot.current !== undefined) {
      slot.stats.skipped += 1;
      log('debug', 'scheduled run skipped: previous run still going', {
        functionName: slot.schedule.functionName,
      });
      return;
    }
    const handler = options.handlers[slot.schedule.functionName];
    if (handler === undefined) return;
    slot.stats.running = true;
    slot.current = invokeHandler(handler, slot.schedule.functionName, scheduledEvent(slot.schedule))
      .then(
        () => {
          slot.stats.runs += 1;
        },
        (error: unknown) => {
          slot.stats.runs += 1;
          slot.stats.failures += 1;
          log('error', 'scheduled function failed', { functionName: slot.schedule.functionName, error });
        },
      )
      .finally(() => {
        slot.current = undefined;
        slot.stats.running = false;
      });
  }

  return {
    stats: () => slots.map((s) => ({ ...s.stats })),
    async stop() {
      stopping = true;
      for (const slot of slots) clearInterval(slot.timer);
      const running = slots.flatMap((s) => (s.current === undefined ? [] : [s.current]));
      await Promise.race([Promise.allSettled(running), delay(STOP_GRACE_MS)]);
    },
  };
}

function scheduledEvent(schedule: Schedule): ScheduledEvent {
  const ruleArn = `arn:aws:events:us-east-1:000000000000:rule/gluon-local-${schedule.functionName}`;
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: '000000000000',
    time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region: 'us-east-1',
    resources: [ruleArn],
    detail: {},
  };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
