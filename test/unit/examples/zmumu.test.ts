import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobAt, jobCount, jobIndexes } from '#core/tasks/split-task.ts';
import { parseTaskSpecText } from '#core/tasks/task-spec.ts';
import { mergeHistograms, peakPosition, textHistogram } from '../../../examples/zmumu/merge.mjs';
import { generateEvent, runZmumu, type ZmumuHistogram } from '../../../examples/zmumu/zmumu.mjs';

const run = promisify(execFile);
const example = join(import.meta.dirname, '../../../examples/zmumu');
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gluon-zmumu-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function binCentre(h: ZmumuHistogram, i: number): number {
  return h.low + (i + 0.5) * ((h.high - h.low) / h.bins);
}

describe('zmumu.mjs', () => {
  it('writes a histogram of 1000 events with the Z peak between 88 and 94 GeV', async () => {
    const out = join(dir, 'histogram.json');
    const { stdout } = await run(
      process.execPath,
      [join(example, 'zmumu.mjs'), '--first-event', '5000', '--n-events', '1000', '--out', out],
      { cwd: dir },
    );
    const h = JSON.parse(readFileSync(out, 'utf8')) as ZmumuHistogram;
    expect(h).toMatchObject({ bins: 60, low: 60, high: 120, firstEvent: 5000, nEvents: 1000 });
    expect(h.counts).toHaveLength(60);
    expect(h.entries).toBeGreaterThan(0);
    expect(h.counts.reduce((a, b) => a + b, 0)).toBe(h.entries);
    expect(h.selected).toBeGreaterThanOrEqual(h.entries);
    expect(h.selected).toBeLessThan(1000);
    const peak = h.counts.indexOf(Math.max(...h.counts));
    expect(binCentre(h, peak)).toBeGreaterThan(88);
    expect(binCentre(h, peak)).toBeLessThan(94);
    expect(h.mean).toBeGreaterThan(88);
    expect(h.mean).toBeLessThan(94);
    expect(stdout).toMatch(/^zmumu: events 5000-5999: \d+ selected/);
  });

  it('takes the event range from GLUON_FIRST_EVENT and GLUON_N_EVENTS when the options are empty', async () => {
    const out = join(dir, 'from-env.json');
    await run(
      process.execPath,
      [join(example, 'zmumu.mjs'), '--first-event', '', '--n-events', '', '--out', out],
      {
        cwd: dir,
        env: { ...process.env, GLUON_FIRST_EVENT: '10', GLUON_N_EVENTS: '200' },
      },
    );
    const h = JSON.parse(readFileSync(out, 'utf8')) as ZmumuHistogram;
    expect(h.firstEvent).toBe(10);
    expect(h.nEvents).toBe(200);
    expect(h).toEqual(runZmumu({ firstEvent: 10, nEvents: 200 }));
  });

  it('exits 2 without an event range', async () => {
    const env = { ...process.env };
    delete env.GLUON_FIRST_EVENT;
    delete env.GLUON_N_EVENTS;
    await expect(
      run(process.execPath, [join(example, 'zmumu.mjs')], { cwd: dir, env }),
    ).rejects.toMatchObject({
      code: 2,
    });
  });

  it('gives every event the same muons however the events are split into jobs', () => {
    expect(generateEvent(1234)).toEqual(generateEvent(1234));
    expect(generateEvent(1234)).not.toEqual(generateEvent(1235));
    const whole = runZmumu({ firstEvent: 0, nEvents: 400 });
    const parts = mergeHistograms([
      runZmumu({ firstEvent: 0, nEvents: 150 }),
      runZmumu({ firstEvent: 150, nEvents: 250 }),
    ]);
    expect(parts.counts).toEqual(whole.counts);
    expect(parts.entries).toBe(whole.entries);
    expect(parts.selected).toBe(whole.selected);
    expect(parts.mean).toBeCloseTo(whole.mean, 9);
    expect(parts.rms).toBeCloseTo(whole.rms, 9);
    expect(parts).toMatchObject({ firstEvent: 0, nEvents: 400, parts: 2 });
  });

  it('draws muons whose pair mass is close to the generated Z mass', () => {
    const { trueMass, muons } = generateEvent(42);
    const [a, b] = muons;
    const p = (m: typeof a) =>
      [m.pt * Math.cos(m.phi), m.pt * Math.sin(m.phi), m.pt * Math.sinh(m.eta)] as const;
    const e = (m: typeof a) => Math.hypot(...p(m), 0.1056584);
    const [pa, pb] = [p(a), p(b)];
    const mass = Math.sqrt(
      (e(a) + e(b)) ** 2 - (pa[0] + pb[0]) ** 2 - (pa[1] + pb[1]) ** 2 - (pa[2] + pb[2]) ** 2,
    );
    expect(Math.abs(mass - trueMass) / trueMass).toBeLessThan(0.1);
  });
});

describe('merge.mjs', () => {
  it('finds the peak near the Z mass and draws one line per bin', () => {
    const h = runZmumu({ firstEvent: 0, nEvents: 3000 });
    expect(Math.abs(peakPosition(h) - 91.19)).toBeLessThan(1.5);
    expect(textHistogram(h).split('\n')).toHaveLength(60);
  });

  it('refuses histograms with different binning', () => {
    const h = runZmumu({ firstEvent: 0, nEvents: 10 });
    expect(() => mergeHistograms([h, { ...h, bins: 30, counts: new Array(30).fill(0) }])).toThrow(
      /binning differs/,
    );
  });
});

describe('task.yaml', () => {
  function uploadedSpec() {
    const text = readFileSync(join(example, 'task.yaml'), 'utf8').replace(
      'sandbox: [zmumu.mjs]',
      `sandbox: [{ name: zmumu.mjs, key: k, sha256: "${'0'.repeat(64)}", bytes: 1 }]`,
    );
    return parseTaskSpecText(text);
  }

  it('is a valid spec of 10 jobs of 2000 events once its sandbox is uploaded', () => {
    const spec = uploadedSpec();
    expect(spec).toMatchObject({
      name: 'zmumu-demo',
      events: 20000,
      split: { eventsPerJob: 2000 },
      resources: { cores: 1, memoryMB: 500, walltimeSec: 300 },
      maxAttempts: 3,
      outputs: ['histogram.json'],
    });
    expect(spec.payload.command).toBe('node');
    expect(spec.payload.args).toEqual([
      'zmumu.mjs',
      '--first-event',
      `\${firstEvent}`,
      '--n-events',
      `\${nEvents}`,
      '--out',
      'histogram.json',
    ]);
  });

  it('splits into 10 jobs whose event ranges cover the 20000 events once, as merge.mjs expects', () => {
    const spec = uploadedSpec();
    expect(jobCount(spec)).toBe(10);
    const ranges = jobIndexes(spec, 0, 100).map((jobIndex) => jobAt(spec, jobIndex));
    expect(ranges.map((r) => [r.firstEvent, r.nEvents])).toEqual(
      Array.from({ length: 10 }, (_, i) => [i * 2000, 2000]),
    );
  });
});
