import { describe, expect, it } from 'vitest';
import type { TaskSizing } from '#core/tasks/scout-sizing.ts';
import { inputNames, jobAt, jobCount, jobIndexes, jobResources } from '#core/tasks/split-task.ts';
import { parseTaskSpec, type TaskSpecInput } from '#core/tasks/task-spec.ts';

function spec(fields: Partial<TaskSpecInput>) {
  return parseTaskSpec({ name: 'split-test', payload: { command: 'run' }, ...fields });
}

describe('splitting by events', () => {
  const gen = spec({ events: 1050, split: { eventsPerJob: 100 } });

  it('counts one job per eventsPerJob, rounding up', () => {
    expect(jobCount(gen)).toBe(11);
    expect(jobCount(spec({ events: 1000, split: { eventsPerJob: 100 } }))).toBe(10);
    expect(jobCount(spec({ events: 1, split: { eventsPerJob: 100 } }))).toBe(1);
  });

  it('gives each job its first event and number of events', () => {
    expect(jobAt(gen, 0)).toEqual({ jobIndex: 0, firstEvent: 0, nEvents: 100 });
    expect(jobAt(gen, 3)).toEqual({ jobIndex: 3, firstEvent: 300, nEvents: 100 });
  });

  it('puts the remainder in the last job', () => {
    expect(jobAt(gen, 10)).toEqual({ jobIndex: 10, firstEvent: 1000, nEvents: 50 });
  });

  it('covers every event exactly once', () => {
    let next = 0;
    for (const jobIndex of jobIndexes(gen, 0, 100)) {
      const job = jobAt(gen, jobIndex);
      expect(job.firstEvent).toBe(next);
      next += job.nEvents ?? 0;
    }
    expect(next).toBe(1050);
  });

  it('finds any job of a million-job task from its index alone', () => {
    const big = spec({ events: 1_999_999, split: { eventsPerJob: 2 } });
    expect(jobCount(big)).toBe(1_000_000);
    expect(jobAt(big, 999_999)).toEqual({ jobIndex: 999_999, firstEvent: 1_999_998, nEvents: 1 });
    expect(jobAt(big, 500_000)).toEqual({ jobIndex: 500_000, firstEvent: 1_000_000, nEvents: 2 });
  });
});

describe('splitting by files', () => {
  const proc = spec({
    inputs: {
      files: [
        { name: 'a.root', events: 10, adler32: '0a1b2c3d', bytes: 2048 },
        { name: 'b.root', events: 20 },
        { name: 'c.root', events: 30 },
        'd.root',
        { name: 'e.root', events: 5 },
      ],
    },
    split: { filesPerJob: 2 },
  });

  it('counts one job per filesPerJob files, rounding up', () => {
    expect(jobCount(proc)).toBe(3);
  });

  it('gives one file per job when filesPerJob is not set', () => {
    const one = spec({ inputs: { files: ['x', 'y', 'z'] } });
    expect(jobCount(one)).toBe(3);
    expect(jobAt(one, 1)).toEqual({ jobIndex: 1, inputs: [{ name: 'y' }] });
  });

  it('gives a job its files with the checksums, sizes and events the spec states, and sums the events', () => {
    expect(jobAt(proc, 0)).toEqual({
      jobIndex: 0,
      inputs: [
        { name: 'a.root', events: 10, adler32: '0a1b2c3d', bytes: 2048 },
        { name: 'b.root', events: 20 },
      ],
      nEvents: 30,
    });
  });

  it('leaves nEvents out when one file of the job has no event count', () => {
    const job = jobAt(proc, 1);
    expect(job).toEqual({ jobIndex: 1, inputs: [{ name: 'c.root', events: 30 }, { name: 'd.root' }] });
    expect(job).not.toHaveProperty('nEvents');
  });

  it('gives the last job the files that are left', () => {
    expect(jobAt(proc, 2)).toEqual({ jobIndex: 2, inputs: [{ name: 'e.root', events: 5 }], nEvents: 5 });
  });

  it('never sets firstEvent for file jobs', () => {
    for (const jobIndex of jobIndexes(proc, 0, 10))
      expect(jobAt(proc, jobIndex)).not.toHaveProperty('firstEvent');
  });
});

describe('jobAt', () => {
  const gen = spec({ events: 10, split: { eventsPerJob: 5 } });

  it.each([-1, 2, 2.5, Number.NaN])('throws RangeError for the index %s', (index) => {
    expect(() => jobAt(gen, index)).toThrow(RangeError);
  });
});

describe('jobIndexes', () => {
  const gen = spec({ events: 95, split: { eventsPerJob: 10 } });

  it('gives the indexes of one page in order', () => {
    expect(jobIndexes(gen, 3, 3)).toEqual([3, 4, 5]);
  });

  it('clips a page that runs past the end', () => {
    expect(jobIndexes(gen, 8, 5)).toEqual([8, 9]);
  });

  it('gives no index for a page starting at or past the end', () => {
    expect(jobIndexes(gen, 10, 5)).toEqual([]);
    expect(jobIndexes(gen, 50, 5)).toEqual([]);
  });
});

describe('inputNames', () => {
  it('names the input files of a file job, as the payload sees them', () => {
    expect(inputNames({ jobIndex: 0, inputs: [{ name: 'a.root', bytes: 1 }, { name: 'b.root' }] })).toEqual([
      'a.root',
      'b.root',
    ]);
  });

  it('names nothing for a generation job', () => {
    expect(inputNames({ jobIndex: 0, firstEvent: 0, nEvents: 10 })).toBeUndefined();
  });
});

describe('splitting a scouted task', () => {
  const scouted = spec({ events: 1000, split: { targetWalltimeSec: 600, eventsPerJob: 30 } });
  const sizing: TaskSizing = {
    unit: 'event',
    measured: {
      scouts: 3,
      finished: 3,
      failed: 0,
      cancelled: 0,
      wallSecPerUnit: 2,
      cpuSecPerUnit: 1,
      peakRssMB: 420,
    },
    perJob: 300,
    jobs: 4,
    memoryMB: 600,
    notes: [],
    at: '2026-01-01T00:00:00.000Z',
  };

  it('starts with the scouts only; the sizing adds the rest', () => {
    expect(jobCount(scouted)).toBe(3);
    expect(jobCount(scouted, sizing)).toBe(7);
    expect(() => jobAt(scouted, 3)).toThrow(RangeError);
  });

  it.each([
    [0, { firstEvent: 0, nEvents: 30 }],
    [2, { firstEvent: 60, nEvents: 30 }],
    [3, { firstEvent: 90, nEvents: 300 }],
    [5, { firstEvent: 690, nEvents: 300 }],
    // The last job holds the remainder.
    [6, { firstEvent: 990, nEvents: 10 }],
  ])('job %d after the sizing takes %o', (jobIndex, expected) => {
    expect(jobAt(scouted, jobIndex, sizing)).toEqual({ jobIndex, ...expected });
  });

  it('covers every event exactly once, scouts and the rest', () => {
    let next = 0;
    for (let jobIndex = 0; jobIndex < jobCount(scouted, sizing); jobIndex++) {
      const job = jobAt(scouted, jobIndex, sizing);
      expect(job.firstEvent).toBe(next);
      next += job.nEvents ?? 0;
    }
    expect(next).toBe(1000);
  });

  it('ends the scouts where the rest begins, when the last scout is short', () => {
    const short = spec({ events: 70, split: { targetWalltimeSec: 600, eventsPerJob: 30 } });
    expect([0, 1, 2].map((i) => jobAt(short, i).nEvents)).toEqual([30, 30, 10]);
  });

  it('cuts input files the same way: scouts of filesPerJob, then the sizing’s files per job', () => {
    const files = spec({
      inputs: { files: ['a', 'b', 'c', 'd', 'e', 'f', 'g'] },
      split: { targetWalltimeSec: 600, filesPerJob: 1, scouts: 2 },
    });
    const byFiles = { ...sizing, unit: 'file' as const, perJob: 2, jobs: 3 };
    expect(jobCount(files, byFiles)).toBe(5);
    expect([0, 1, 2, 3, 4].map((i) => inputNames(jobAt(files, i, byFiles)))).toEqual([
      ['a'],
      ['b'],
      ['c', 'd'],
      ['e', 'f'],
      ['g'],
    ]);
  });

  it('asks for the sizing’s memory for the jobs after the scouts only', () => {
    expect(jobResources(scouted, sizing, 2)).toEqual(scouted.resources);
    expect(jobResources(scouted, sizing, 3)).toEqual({ ...scouted.resources, memoryMB: 600 });
    expect(jobResources(scouted, undefined, 3)).toEqual(scouted.resources);
    const plain = spec({ events: 100, split: { eventsPerJob: 10 } });
    expect(jobResources(plain, sizing, 5)).toEqual(plain.resources);
  });
});
