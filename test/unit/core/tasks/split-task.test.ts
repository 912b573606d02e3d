import { describe, expect, it } from 'vitest';
import { jobAt, jobCount, jobPage } from '#core/tasks/split-task.ts';
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
    const page = jobPage(gen, 0, 100);
    expect(page).toHaveLength(11);
    let next = 0;
    for (const job of page) {
      expect(job.firstEvent).toBe(next);
      next += job.nEvents ?? 0;
    }
    expect(next).toBe(1050);
  });

  it('finds the last job of a million-job task from its index alone', () => {
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
        { name: 'a.root', events: 10 },
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
    expect(jobAt(one, 1)).toEqual({ jobIndex: 1, inputFiles: ['y'] });
  });

  it('sums the events of the job files when every file has them', () => {
    expect(jobAt(proc, 0)).toEqual({ jobIndex: 0, inputFiles: ['a.root', 'b.root'], nEvents: 30 });
  });

  it('leaves nEvents out when one file of the job has no event count', () => {
    const job = jobAt(proc, 1);
    expect(job).toEqual({ jobIndex: 1, inputFiles: ['c.root', 'd.root'] });
    expect('nEvents' in job).toBe(false);
  });

  it('gives the last job the files that are left', () => {
    expect(jobAt(proc, 2)).toEqual({ jobIndex: 2, inputFiles: ['e.root'], nEvents: 5 });
  });

  it('never sets firstEvent for file jobs', () => {
    for (const job of jobPage(proc, 0, 10)) expect(job.firstEvent).toBeUndefined();
  });
});

describe('jobAt', () => {
  const gen = spec({ events: 10, split: { eventsPerJob: 5 } });

  it.each([-1, 2, 2.5, Number.NaN])('throws RangeError for index %s', (index) => {
    expect(() => jobAt(gen, index)).toThrow(RangeError);
  });
});

describe('jobPage', () => {
  const gen = spec({ events: 95, split: { eventsPerJob: 10 } });

  it('returns the jobs of one page in order', () => {
    expect(jobPage(gen, 3, 3).map((j) => j.jobIndex)).toEqual([3, 4, 5]);
  });

  it('clips a page that runs past the end', () => {
    const page = jobPage(gen, 8, 5);
    expect(page.map((j) => j.jobIndex)).toEqual([8, 9]);
    expect(page[1]).toEqual({ jobIndex: 9, firstEvent: 90, nEvents: 5 });
  });

  it('returns no jobs for a page starting past the end', () => {
    expect(jobPage(gen, 10, 5)).toEqual([]);
    expect(jobPage(gen, 50, 5)).toEqual([]);
  });
});

describe('jobInputs', () => {
  it('gives the checksums and sizes the spec states for the job its files, and only names otherwise', async () => {
    const { jobInputs } = await import('#core/tasks/split-task.ts');
    const { parseTaskSpec } = await import('#core/tasks/task-spec.ts');
    const spec = parseTaskSpec({
      name: 'reco',
      payload: { command: 'reco' },
      inputs: {
        files: [
          { name: 'inputs/a.root', adler32: '0a1b2c3d', bytes: 10 },
          'inputs/b.root',
          { name: 's3://raw/c.root', events: 5 },
        ],
      },
      split: { filesPerJob: 2 },
    });
    expect(jobInputs(spec, 0)).toEqual([
      { name: 'inputs/a.root', adler32: '0a1b2c3d', bytes: 10 },
      { name: 'inputs/b.root' },
    ]);
    expect(jobInputs(spec, 1)).toEqual([{ name: 's3://raw/c.root' }]);
  });
});
