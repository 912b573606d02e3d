import { describe, expect, it } from 'vitest';
import type { RecordedRangeState } from '#core/event-ranges/event-range.ts';
import {
  addRangeCounters,
  deriveRangeCounts,
  emptyRangeCounters,
  type RangeCounters,
  rangeCounterDelta,
  rangesRemaining,
} from '#core/event-ranges/range-counts.ts';

function range(state: RecordedRangeState, nEvents = 100) {
  return { state, nEvents };
}

function counters(overrides: Partial<RangeCounters>): RangeCounters {
  return { ...emptyRangeCounters(), ...overrides };
}

describe('rangeCounterDelta', () => {
  it('counts a new record and its state', () => {
    expect(rangeCounterDelta(undefined, range('running'))).toEqual({ recorded: 1, running: 1 });
    expect(rangeCounterDelta(undefined, range('failed'))).toEqual({ recorded: 1, failed: 1 });
  });

  it("adds a finished range's events, also when its first record is finished", () => {
    expect(rangeCounterDelta(range('running', 40), range('finished', 40))).toEqual({
      running: -1,
      finished: 1,
      eventsFinished: 40,
    });
    expect(rangeCounterDelta(undefined, range('finished', 7))).toEqual({
      recorded: 1,
      finished: 1,
      eventsFinished: 7,
    });
  });

  it('moves one range from state to state: a retry, a fatal failure', () => {
    expect(rangeCounterDelta(range('failed'), range('running'))).toEqual({ failed: -1, running: 1 });
    expect(rangeCounterDelta(range('running'), range('fatal'))).toEqual({ running: -1, fatal: 1 });
  });

  it('moves nothing when the state stays, as a replayed finished report does', () => {
    expect(rangeCounterDelta(range('finished', 40), range('finished', 40))).toEqual({});
    expect(rangeCounterDelta(range('running'), range('running'))).toEqual({});
    expect(rangeCounterDelta(undefined, undefined)).toEqual({});
  });

  it('takes a deleted record out, with its finished events', () => {
    expect(rangeCounterDelta(range('finished', 40), undefined)).toEqual({
      recorded: -1,
      finished: -1,
      eventsFinished: -40,
    });
  });
});

describe('addRangeCounters', () => {
  it('adds a delta into the counters it is given, and returns them', () => {
    const into = counters({ recorded: 3, running: 2, finished: 1, eventsFinished: 100 });
    const out = addRangeCounters(into, { running: -1, finished: 1, eventsFinished: 50 });
    expect(out).toBe(into);
    expect(out).toEqual(counters({ recorded: 3, running: 1, finished: 2, eventsFinished: 150 }));
  });

  it('gives fresh empty counters each time', () => {
    const first = emptyRangeCounters();
    addRangeCounters(first, { recorded: 1 });
    expect(emptyRangeCounters()).toEqual(counters({}));
  });
});

describe('deriveRangeCounts', () => {
  it('counts ranges without a record as ready, and gives the totals of ranges and events', () => {
    const counts = deriveRangeCounts(
      { rangeCount: 100, events: 10_000 },
      counters({ recorded: 30, running: 10, finished: 15, failed: 3, fatal: 2, eventsFinished: 1450 }),
    );
    expect(counts).toEqual({
      ready: 70,
      running: 10,
      finished: 15,
      failed: 3,
      fatal: 2,
      total: 100,
      events: 10_000,
      eventsFinished: 1450,
    });
    expect(rangesRemaining(counts)).toBe(83);
  });

  it('counts every range ready before any report, and none remaining once all are final', () => {
    expect(deriveRangeCounts({ rangeCount: 5, events: 50 }, emptyRangeCounters())).toMatchObject({
      ready: 5,
      total: 5,
      eventsFinished: 0,
    });
    const done = deriveRangeCounts(
      { rangeCount: 5, events: 50 },
      counters({ recorded: 5, finished: 4, fatal: 1, eventsFinished: 40 }),
    );
    expect(done.ready).toBe(0);
    expect(rangesRemaining(done)).toBe(0);
  });

  it('never counts fewer than no ready range', () => {
    expect(
      deriveRangeCounts({ rangeCount: 2, events: 20 }, counters({ recorded: 3, running: 3 })).ready,
    ).toBe(0);
  });
});
