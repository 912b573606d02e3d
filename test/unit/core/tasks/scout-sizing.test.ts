import { describe, expect, it } from 'vitest';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import {
  percentile,
  type ScoutPlan,
  type ScoutResult,
  scoutPlan,
  sizeFromScouts,
} from '#core/tasks/scout-sizing.ts';
import { parseTaskSpec, type TaskSpecInput } from '#core/tasks/task-spec.ts';

function spec(fields: Partial<TaskSpecInput>) {
  return parseTaskSpec({ name: 'scouted', payload: { command: 'run' }, ...fields });
}

/** 10,000 events, scouts of 100: the rest is 9,700 events; target 600 s, margin 20 %. */
const PLAN: ScoutPlan = {
  unit: 'event',
  total: 10_000,
  perScout: 100,
  scouts: 3,
  scoutUnits: 300,
  targetWalltimeSec: 600,
  memoryMarginPercent: 20,
};

/** A finished scout of `units` events that took `wallSec` and peaked at `rssMB`. */
function ok(wallSec: number, rssMB = 200, units = 100): ScoutResult {
  return {
    state: 'finished',
    units,
    usage: { wallTimeSec: wallSec, cpuTimeSec: wallSec / 2, maxRssKB: rssMB * 1024 },
    pilotErrorCode: 0,
    exitCode: 0,
  };
}

function failed(pilotErrorCode: number, exitCode?: number): ScoutResult {
  return { state: 'failed', units: 100, pilotErrorCode, ...(exitCode === undefined ? {} : { exitCode }) };
}

describe('scoutPlan', () => {
  it.each([
    [
      'defaults: 3 scouts of 100 events, margin 20 %',
      { events: 10_000, split: { targetWalltimeSec: 600 } },
      { unit: 'event', total: 10_000, perScout: 100, scouts: 3, scoutUnits: 300, memoryMarginPercent: 20 },
    ],
    [
      'the spec’s scout size, count and margin',
      {
        events: 1000,
        split: { targetWalltimeSec: 600, eventsPerJob: 50, scouts: 5, memoryMarginPercent: 0 },
      },
      { perScout: 50, scouts: 5, scoutUnits: 250, memoryMarginPercent: 0 },
    ],
    [
      'fewer scouts when the task has fewer jobs’ worth',
      { events: 150, split: { targetWalltimeSec: 600 } },
      { scouts: 2, scoutUnits: 150 },
    ],
    [
      'files: one file per scout by default',
      { inputs: { files: ['a', 'b', 'c', 'd', 'e'] }, split: { targetWalltimeSec: 600 } },
      { unit: 'file', total: 5, perScout: 1, scouts: 3, scoutUnits: 3 },
    ],
  ] as const)('%s', (_, fields, expected) => {
    expect(scoutPlan(spec(fields as Partial<TaskSpecInput>))).toMatchObject(expected);
  });

  it('is undefined for a task without a target', () => {
    expect(scoutPlan(spec({ events: 100, split: { eventsPerJob: 10 } }))).toBeUndefined();
  });
});

describe('percentile (nearest rank)', () => {
  it.each([
    [[5], 0.75, 5],
    [[3, 1, 2], 0.75, 3],
    [[0.1, 0.9, 0.3, 0.2], 0.75, 0.3],
    [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.75, 8],
    [[4, 1], 0.5, 1],
  ])('of %o at %d is %d', (values, p, expected) => {
    expect(percentile(values, p)).toBe(expected);
  });
});

describe('sizeFromScouts', () => {
  it.each([
    // name, scouts, slot, expected sizing
    [
      'cuts the rest to the target from the time per event, memory peak + 20 % rounded up to 100 MB',
      [ok(10), ok(10), ok(10)],
      undefined,
      { perJob: 6000, jobs: 2, memoryMB: 300, notes: [] },
    ],
    [
      'takes the time per event at the 75th percentile (3 scouts: the slowest)',
      [ok(10), ok(50), ok(20)],
      undefined,
      { perJob: 1200, jobs: 9, measured: { wallSecPerUnit: 0.5, cpuSecPerUnit: 0.25 } },
    ],
    [
      'takes memory from the largest RSS of any finished scout',
      [ok(10, 100), ok(10, 900), ok(10, 300)],
      undefined,
      { memoryMB: 1100, measured: { peakRssMB: 900 } },
    ],
    [
      'measures per event, whatever the size of each scout (a short last scout)',
      [ok(10), ok(10), ok(2, 200, 20)],
      undefined,
      { perJob: 6000, measured: { wallSecPerUnit: 0.1 } },
    ],
    [
      'gives way on the margin, not the peak, to the smallest slot of the sites',
      [ok(10, 1800), ok(10, 1800), ok(10, 1800)],
      2000,
      {
        memoryMB: 2000,
        notes: ["memory 2000 MB, not the 2200 MB of peak plus 20%: the smallest slot of the task's sites"],
      },
    ],
    [
      'asks for what the slot offers when peak plus margin fits it exactly',
      [ok(10, 1000)],
      1200,
      { memoryMB: 1200, notes: [] },
    ],
    ['never asks for less than 100 MB', [ok(10, 1)], undefined, { memoryMB: 100 }],
    [
      'one event per job when a single event takes longer than the target',
      [ok(100_000)],
      undefined,
      { perJob: 1, jobs: 9700 },
    ],
    [
      'the whole rest in one job when the scouts were too fast to measure',
      [ok(0)],
      undefined,
      { perJob: 9700, jobs: 1 },
    ],
    [
      'sizes from the finished scouts when some failed, and says so',
      [ok(10), failed(PILOT_ERROR_CODES.PAYLOAD_FAILED, 3), ok(10)],
      undefined,
      {
        perJob: 6000,
        measured: { scouts: 3, finished: 2, failed: 1, cancelled: 0 },
        notes: ['sized from 2 of 3 scouts; the others exit code 3 ×1'],
      },
    ],
  ] as const)('%s', (_, scouts, slotMemoryMB, expected) => {
    const outcome = sizeFromScouts({
      plan: PLAN,
      scouts,
      ...(slotMemoryMB === undefined ? {} : { slotMemoryMB }),
    });
    expect(outcome.outcome).toBe('sized');
    expect(outcome.outcome === 'sized' ? outcome.sizing : undefined).toMatchObject(expected);
  });

  it('covers the rest exactly: the jobs times their size reach it, the last job holds the remainder', () => {
    for (const wall of [1, 7, 13, 60, 333]) {
      const outcome = sizeFromScouts({ plan: PLAN, scouts: [ok(wall)] });
      if (outcome.outcome !== 'sized') return expect.fail('not sized');
      const { perJob, jobs } = outcome.sizing;
      expect((jobs - 1) * perJob).toBeLessThan(9700);
      expect(jobs * perJob).toBeGreaterThanOrEqual(9700);
      // No job over the target at the measured rate.
      expect(perJob * (wall / 100)).toBeLessThanOrEqual(600);
    }
  });

  it('adds no jobs when the scouts were the whole task', () => {
    const outcome = sizeFromScouts({ plan: { ...PLAN, total: 300 }, scouts: [ok(10), ok(10), ok(10)] });
    expect(outcome).toMatchObject({ outcome: 'sized', sizing: { jobs: 0 } });
  });

  it('widens the jobs rather than cut more than a task may have', () => {
    const plan = { ...PLAN, total: 1_000_000_300, targetWalltimeSec: 1 };
    const outcome = sizeFromScouts({ plan, scouts: [ok(100)] });
    if (outcome.outcome !== 'sized') return expect.fail('not sized');
    expect(outcome.sizing.perJob).toBe(1001);
    expect(outcome.sizing.jobs + plan.scouts).toBeLessThanOrEqual(1_000_000);
    expect(outcome.sizing.notes[0]).toContain('to stay within 1000000 jobs');
  });

  it('sizes files per job the same way', () => {
    const plan: ScoutPlan = { ...PLAN, unit: 'file', total: 100, perScout: 2, scoutUnits: 6 };
    const outcome = sizeFromScouts({ plan, scouts: [ok(120, 50, 2), ok(100, 50, 2), ok(80, 50, 2)] });
    // 60 s per file at the 75th percentile: 10 files per job, 94 files left.
    expect(outcome).toMatchObject({ outcome: 'sized', sizing: { unit: 'file', perJob: 10, jobs: 10 } });
  });

  it.each([
    [
      'every scout failed: their errors, most frequent first',
      [
        failed(PILOT_ERROR_CODES.MEMORY_EXCEEDED),
        failed(PILOT_ERROR_CODES.PAYLOAD_FAILED, 2),
        failed(PILOT_ERROR_CODES.MEMORY_EXCEEDED),
      ],
      'all 3 scout jobs failed; no other job ran (pilot error 1102: payload exceeded its memory limit and was killed ×2, exit code 2 ×1)',
    ],
    [
      'the one scout failed',
      [failed(PILOT_ERROR_CODES.WALLTIME_EXCEEDED)],
      'the scout job failed; no other job ran (pilot error 1101: payload exceeded its walltime and was killed ×1)',
    ],
    [
      'failed or cancelled',
      [failed(PILOT_ERROR_CODES.PAYLOAD_FAILED, 1), { state: 'cancelled', units: 100 }],
      'all 2 scout jobs failed or were cancelled; no other job ran (exit code 1 ×1, cancelled ×1)',
    ],
  ] as const)('fails the task when no scout finished: %s', (_, scouts, reason) => {
    const outcome = sizeFromScouts({ plan: PLAN, scouts });
    expect(outcome).toMatchObject({ outcome: 'failed', reason, measured: { finished: 0 } });
  });
});
