import type { RangeState, RecordedRangeState } from './event-range.ts';

/**
 * The range-count rules. Counters are kept per task from the change feed of range records, once
 * per change, as for jobs; ranges without a record are `ready`.
 */
export type RangeCounters = Record<RecordedRangeState | 'recorded' | 'eventsFinished', number>;

export const RANGE_COUNTER_NAMES: ReadonlyArray<keyof RangeCounters> = [
  'recorded',
  'running',
  'finished',
  'failed',
  'fatal',
  'eventsFinished',
];

export type RangeCounts = Record<RangeState, number> & {
  /** Ranges of the task. */
  total: number;
  /** Events of the task, and of its finished ranges. */
  events: number;
  eventsFinished: number;
};

export function emptyRangeCounters(): RangeCounters {
  return { recorded: 0, running: 0, finished: 0, failed: 0, fatal: 0, eventsFinished: 0 };
}

/** The counter moves of one record change. Empty when nothing moves. */
export function rangeCounterDelta(
  before: { state: RecordedRangeState; nEvents: number } | undefined,
  after: { state: RecordedRangeState; nEvents: number } | undefined,
): Partial<RangeCounters> {
  const delta: Partial<RangeCounters> = {};
  const add = (name: keyof RangeCounters, n: number) => {
    const value = (delta[name] ?? 0) + n;
    if (value === 0) delete delta[name];
    else delta[name] = value;
  };
  if (before === undefined && after !== undefined) add('recorded', 1);
  if (before !== undefined && after === undefined) add('recorded', -1);
  if (before !== undefined) {
    add(before.state, -1);
    if (before.state === 'finished') add('eventsFinished', -before.nEvents);
  }
  if (after !== undefined) {
    add(after.state, 1);
    if (after.state === 'finished') add('eventsFinished', after.nEvents);
  }
  return delta;
}

export function addRangeCounters(into: RangeCounters, delta: Partial<RangeCounters>): RangeCounters {
  for (const name of RANGE_COUNTER_NAMES) into[name] += delta[name] ?? 0;
  return into;
}

export function deriveRangeCounts(
  task: { rangeCount: number; events: number },
  counters: RangeCounters,
): RangeCounts {
  return {
    ready: Math.max(0, task.rangeCount - counters.recorded),
    running: counters.running,
    finished: counters.finished,
    failed: counters.failed,
    fatal: counters.fatal,
    total: task.rangeCount,
    events: task.events,
    eventsFinished: counters.eventsFinished,
  };
}

/** Ranges that may still change: neither finished nor fatal. */
export function rangesRemaining(counts: RangeCounts): number {
  return Math.max(0, counts.total - counts.finished - counts.fatal);
}
