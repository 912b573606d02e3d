import { describe, expect, it } from 'vitest';
import {
  failuresByCode,
  isHistogram,
  type JobLike,
  jobIntervals,
  progressSegments,
  requestedVsUsed,
  statesOverTime,
  sumHistograms,
  usageOf,
} from '../../../web/js/task-model.js';

const T0 = '2026-12-01T10:00:00.000Z';
const at = (sec: number): string => new Date(Date.parse(T0) + sec * 1000).toISOString();
const ms = (sec: number): number => Date.parse(T0) + sec * 1000;

/** Job 0: failed once (10–20 s), then finished (30–40 s). Job 1: running since 15 s. Job 2: failed (5–8 s). */
const JOBS: JobLike[] = [
  {
    jobIndex: 0,
    state: 'finished',
    attempt: 2,
    startedAt: at(30),
    endedAt: at(40),
    attempts: [
      {
        attempt: 1,
        state: 'failed',
        startedAt: at(10),
        endedAt: at(20),
        pilotErrorCode: 1001,
        errorMessage: 'exit 3',
      },
      {
        attempt: 2,
        state: 'finished',
        startedAt: at(30),
        endedAt: at(40),
        pilotErrorCode: 0,
        usage: { wallTimeSec: 10, cpuTimeSec: 9, maxRssKB: 204_800 },
        resources: { memoryMB: 800 },
      },
    ],
  },
  { jobIndex: 1, state: 'running', attempt: 1, startedAt: at(15) },
  {
    jobIndex: 2,
    state: 'failed',
    attempt: 1,
    startedAt: at(5),
    endedAt: at(8),
    pilotErrorCode: 1102,
    errorMessage: 'memory',
  },
];

describe('jobIntervals', () => {
  it('has a job queued from the task creation, running per attempt, queued between attempts, then final', () => {
    expect(jobIntervals(JOBS[0] as JobLike, T0)).toEqual([
      { state: 'queued', from: ms(0), to: ms(10) },
      { state: 'running', from: ms(10), to: ms(20) },
      { state: 'queued', from: ms(20), to: ms(30) },
      { state: 'running', from: ms(30), to: ms(40) },
      { state: 'finished', from: ms(40), to: Number.POSITIVE_INFINITY },
    ]);
  });

  it('keeps a running attempt open', () => {
    expect(jobIntervals(JOBS[1] as JobLike, T0)).toEqual([
      { state: 'queued', from: ms(0), to: ms(15) },
      { state: 'running', from: ms(15), to: Number.POSITIVE_INFINITY },
    ]);
  });
});

describe('statesOverTime', () => {
  it.each([
    [2, { queued: 3, running: 0, finished: 0, failed: 0, cancelled: 0 }],
    [6, { queued: 2, running: 1, finished: 0, failed: 0, cancelled: 0 }],
    [12, { queued: 1, running: 1, finished: 0, failed: 1, cancelled: 0 }],
    [16, { queued: 0, running: 2, finished: 0, failed: 1, cancelled: 0 }],
    [25, { queued: 1, running: 1, finished: 0, failed: 1, cancelled: 0 }],
    [45, { queued: 0, running: 1, finished: 1, failed: 1, cancelled: 0 }],
  ])('counts the jobs in each state at %i s', (sec, expected) => {
    const { series } = statesOverTime(JOBS, T0, ms(sec), ms(sec) + 1, 2);
    expect(Object.fromEntries(Object.entries(series).map(([s, v]) => [s, v[0]]))).toEqual(expected);
  });

  it('counts jobs without a record as queued throughout', () => {
    const { series } = statesOverTime([], T0, ms(0), ms(100), 3, 4);
    expect(series.queued).toEqual([4, 4, 4]);
  });

  it('spreads the points evenly from start to end', () => {
    expect(statesOverTime([], T0, 0, 100, 5).times).toEqual([0, 25, 50, 75, 100]);
  });
});

describe('failuresByCode', () => {
  it('groups failed attempts, retried ones included, by error code with examples', () => {
    expect(failuresByCode(JOBS)).toEqual([
      { code: 1001, count: 1, examples: [{ jobIndex: 0, attempt: 1, message: 'exit 3' }] },
      { code: 1102, count: 1, examples: [{ jobIndex: 2, attempt: 1, message: 'memory' }] },
    ]);
  });

  it('puts the most frequent code first and keeps at most the asked examples', () => {
    const jobs: JobLike[] = [5, 6, 7].map((jobIndex) => ({
      jobIndex,
      state: 'failed',
      attempt: 1,
      pilotErrorCode: 1201,
    }));
    const groups = failuresByCode([...jobs, JOBS[2] as JobLike], 2);
    expect(groups.map((g) => [g.code, g.count, g.examples.map((x) => x.jobIndex)])).toEqual([
      [1201, 3, [5, 6]],
      [1102, 1, [2]],
    ]);
  });
});

describe('usageOf and requestedVsUsed', () => {
  it('takes finished attempts with what each asked for (raised resources, else the spec)', () => {
    const usage = usageOf(JOBS, { memoryMB: 500, walltimeSec: 60 });
    expect(usage.wall).toEqual([{ used: 10, requested: 60 }]);
    expect(usage.memory).toEqual([{ used: 200, requested: 800 }]);
  });

  it('bins used and requested values on the same edges', () => {
    const h = requestedVsUsed(
      [
        { used: 10, requested: 100 },
        { used: 49, requested: 100 },
        { used: 100, requested: 100 },
      ],
      4,
    );
    expect(h.edges).toEqual([0, 25, 50, 75, 100]);
    expect(h.used).toEqual([1, 1, 0, 1]);
    expect(h.requested).toEqual([0, 0, 0, 3]);
  });
});

describe('histograms', () => {
  const a = { bins: 3, low: 0, high: 3, counts: [1, 2, 3], entries: 6 };
  const b = { bins: 3, low: 0, high: 3, counts: [0, 5, 1], entries: 6 };

  it('adds counts and entries of histograms with the same binning', () => {
    expect(sumHistograms([a, b])).toEqual({
      bins: 3,
      low: 0,
      high: 3,
      counts: [1, 7, 4],
      entries: 12,
      parts: 2,
    });
  });

  it('refuses histograms of different binnings', () => {
    expect(() => sumHistograms([a, { ...b, high: 6 }])).toThrow(/binning differs/);
  });

  it.each([
    [a, true],
    [{ ...a, counts: [1] }, false],
    [{ bins: 3 }, false],
    [null, false],
  ])('recognises a histogram: %j → %s', (h, expected) => {
    expect(isHistogram(h)).toBe(expected);
  });
});

describe('progressSegments', () => {
  it('gives each non-empty state its share', () => {
    expect(
      progressSegments({ finished: 3, running: 1, queued: 0 }, ['finished', 'running', 'queued']),
    ).toEqual([
      { state: 'finished', count: 3, percent: 75 },
      { state: 'running', count: 1, percent: 25 },
    ]);
  });
});
