import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { concatJsonLines } from '../../../examples/zmumu/concat.mjs';
import {
  type ChainHistogram,
  directHistogram,
  histogramOfEvents,
  sameHistogram,
} from '../../../examples/zmumu/histogram.mjs';
import { mergeHistograms } from '../../../examples/zmumu/merge.mjs';
import { type RecoEvent, reconstructEvent, reconstructEvents } from '../../../examples/zmumu/reco.mjs';
import {
  CUTS,
  fillMassHistogram,
  generateEvent,
  passesCuts,
  runZmumu,
  type TruthEvent,
  truthEvent,
  truthEventLines,
} from '../../../examples/zmumu/zmumu.mjs';

const run = promisify(execFile);
const example = join(import.meta.dirname, '../../../examples/zmumu');
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gluon-chain-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const truthEvents = (first: number, n: number): TruthEvent[] =>
  Array.from({ length: n }, (_, i) => truthEvent(first + i));
const lines = (text: string): unknown[] =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l));

describe('generation (zmumu.mjs --write-events)', () => {
  it('writes one truth event a line, the same ones truthEvent gives', async () => {
    const out = join(dir, 'events.jsonl');
    const { stdout } = await run(
      process.execPath,
      [join(example, 'zmumu.mjs'), '--first-event', '100', '--n-events', '50', '--write-events', out],
      { cwd: dir },
    );
    const events = lines(readFileSync(out, 'utf8')) as TruthEvent[];
    expect(events).toHaveLength(50);
    expect(events.map((e) => e.event)).toEqual(Array.from({ length: 50 }, (_, i) => 100 + i));
    // JSON keeps every double exactly, so the file is the event, not an approximation of it.
    expect(events).toEqual(truthEvents(100, 50));
    expect(events[0]).toMatchObject({ event: 100, seed: 1 });
    expect(events[0]?.muons).toHaveLength(2);
    expect(stdout).toMatch(/^zmumu: events 100-149 generated/);
  });

  it('writes an empty file for no events', () => {
    expect(truthEventLines({ firstEvent: 5, nEvents: 0 })).toBe('');
  });

  it('gives each seed its own events', () => {
    expect(truthEvent(7, 1)).not.toEqual(truthEvent(7, 2));
    expect(truthEvent(7, 2)).toEqual(truthEvent(7, 2));
  });
});

describe('reconstruction (reco.mjs)', () => {
  it('reconstructs an event the same way alone, in any batch and after a JSON round trip', () => {
    const events = truthEvents(0, 300);
    const whole = reconstructEvents(events);
    const inParts = [
      ...reconstructEvents(events.slice(200)),
      ...reconstructEvents(events.slice(0, 77)),
      ...reconstructEvents(JSON.parse(JSON.stringify(events.slice(77, 200)))),
    ].sort((a, b) => a.event - b.event);
    expect(inParts).toEqual(whole);
    expect(reconstructEvent(events[42] as TruthEvent)).toEqual(reconstructEvent(truthEvent(42)));
  });

  it('smears the muons as zmumu.mjs does, so the chain reproduces its histogram', () => {
    const truth = truthEvent(1234);
    const smeared = generateEvent(1234).muons;
    const reco = reconstructEvent(truth);
    if (smeared.every(passesCuts)) expect(reco?.muons).toEqual(smeared);
    else expect(reco).toBeUndefined();
    expect(smeared[0].pt).not.toBe(truth.muons[0].pt);
  });

  it('keeps only events whose two muons both have pT > 20 GeV and |η| < 2.4', () => {
    const events = truthEvents(0, 500);
    const reco = reconstructEvents(events);
    expect(reco.length).toBeGreaterThan(0);
    expect(reco.length).toBeLessThan(500);
    for (const e of reco) {
      for (const m of e.muons) {
        expect(m.pt).toBeGreaterThan(CUTS.ptMin);
        expect(Math.abs(m.eta)).toBeLessThan(CUTS.etaMax);
      }
    }
    const rejected = events.filter((e) => reconstructEvent(e) === undefined);
    expect(rejected.length + reco.length).toBe(500);
    expect(rejected.every((e) => !generateEvent(e.event).muons.every(passesCuts))).toBe(true);
  });

  it('cuts at the edges: a muon of exactly 20 GeV or |η| exactly 2.4 fails', () => {
    expect(passesCuts({ pt: 20, eta: 0, phi: 0 })).toBe(false);
    expect(passesCuts({ pt: 20.001, eta: 0, phi: 0 })).toBe(true);
    expect(passesCuts({ pt: 50, eta: -2.4, phi: 0 })).toBe(false);
    expect(passesCuts({ pt: 50, eta: 2.399, phi: 0 })).toBe(true);
  });

  it('reads comma-separated inputs and writes the selected events with their mass', async () => {
    writeFileSync(join(dir, 'a.jsonl'), truthEventLines({ firstEvent: 0, nEvents: 60 }));
    writeFileSync(join(dir, 'b.jsonl'), truthEventLines({ firstEvent: 60, nEvents: 40 }));
    const { stdout } = await run(
      process.execPath,
      [join(example, 'reco.mjs'), 'a.jsonl,b.jsonl', '--out', 'reco.jsonl'],
      { cwd: dir },
    );
    const reco = lines(readFileSync(join(dir, 'reco.jsonl'), 'utf8')) as RecoEvent[];
    expect(reco).toEqual(reconstructEvents(truthEvents(0, 100)));
    expect(stdout).toBe(`reco: 100 events from 2 files, ${reco.length} selected -> reco.jsonl\n`);
  });

  it('fails with exit 1 naming the file and line of a line that is not JSON', async () => {
    writeFileSync(join(dir, 'bad.jsonl'), `${JSON.stringify(truthEvent(1))}\n{"event": 2, "mu\n`);
    await expect(
      run(process.execPath, [join(example, 'reco.mjs'), 'bad.jsonl'], { cwd: dir }),
    ).rejects.toMatchObject({ code: 1, stderr: expect.stringMatching(/bad\.jsonl: line 2 is not JSON/) });
  });

  it('exits 2 without input files', async () => {
    await expect(run(process.execPath, [join(example, 'reco.mjs')], { cwd: dir })).rejects.toMatchObject({
      code: 2,
    });
  });
});

describe('merge step (concat.mjs)', () => {
  it('concatenates files in order, each line unchanged, with or without a final newline', () => {
    expect(
      concatJsonLines([
        { name: 'a', text: '{"event":1}\n{"event":2}\n' },
        { name: 'b', text: '' },
        { name: 'c', text: '{"event":3}' },
      ]),
    ).toBe('{"event":1}\n{"event":2}\n{"event":3}\n');
    expect(concatJsonLines([])).toBe('');
  });

  it('refuses a truncated input', () => {
    expect(() => concatJsonLines([{ name: 'x.jsonl', text: '{"event":1}\n{"ev' }])).toThrow(
      /x\.jsonl: line 2 is not JSON/,
    );
  });

  it('writes merged.jsonl from the files of its ${inputFiles}', async () => {
    writeFileSync(join(dir, 'r1.jsonl'), '{"event":5,"mass":90}\n');
    writeFileSync(join(dir, 'r2.jsonl'), '{"event":1,"mass":91}\n{"event":2,"mass":92}\n');
    const { stdout } = await run(process.execPath, [join(example, 'concat.mjs'), 'r1.jsonl,r2.jsonl'], {
      cwd: dir,
    });
    expect(readFileSync(join(dir, 'merged.jsonl'), 'utf8')).toBe(
      '{"event":5,"mass":90}\n{"event":1,"mass":91}\n{"event":2,"mass":92}\n',
    );
    expect(stdout).toBe('concat: 2 files, 3 lines -> merged.jsonl\n');
  });
});

describe('histogram (histogram.mjs)', () => {
  it('fills masses into 60 bins of 1 GeV from 60 to 120 GeV, edges included low and excluded high', () => {
    const h = fillMassHistogram([60, 60.5, 91.2, 119.999, 120, 59.9, 150]);
    expect(h.counts).toHaveLength(60);
    expect(h.counts[0]).toBe(2);
    expect(h.counts[31]).toBe(1);
    expect(h.counts[59]).toBe(1);
    expect(h.entries).toBe(4);
    expect(h.mean).toBeCloseTo((60 + 60.5 + 91.2 + 119.999) / 4, 9);
  });

  it('gives the same histogram whatever the order and grouping of the events', () => {
    const reco = reconstructEvents(truthEvents(0, 400));
    const forward = histogramOfEvents(reco);
    const backward = histogramOfEvents([...reco].reverse());
    expect(backward).toEqual(forward);
    expect(forward.selected).toBe(reco.length);
    expect(forward.events).toEqual([reco[0]?.event, reco.at(-1)?.event]);
  });

  it('refuses an event counted twice (a file merged twice)', () => {
    expect(() =>
      histogramOfEvents([
        { event: 3, mass: 90 },
        { event: 3, mass: 90 },
      ]),
    ).toThrow(/event 3 appears twice/);
  });

  it('equals zmumu.mjs single-step histogram for the same events', () => {
    const direct = directHistogram(truthEvents(0, 1000));
    const single = runZmumu({ firstEvent: 0, nEvents: 1000 });
    expect(direct.counts).toEqual(single.counts);
    expect(direct.entries).toBe(single.entries);
    expect(direct.selected).toBe(single.selected);
    expect(direct.mean).toBe(single.mean);
    expect(sameHistogram(direct, single)).toBe(true);
  });

  it('sameHistogram notices one count moved between bins', () => {
    const h = directHistogram(truthEvents(0, 200));
    const counts = [...h.counts];
    const full = counts.findIndex((c) => c > 0);
    counts[full] = (counts[full] ?? 0) - 1;
    counts[full + 1] = (counts[full + 1] ?? 0) + 1;
    expect(sameHistogram(h, { ...h, counts })).toBe(false);
    expect(sameHistogram(h, { ...h, selected: h.selected + 1 })).toBe(false);
    expect(sameHistogram(h, { ...h })).toBe(true);
  });

  it('runs the whole chain by hand (gen in 4 jobs → reco in 2 → concat → histogram) to the direct histogram', async () => {
    const script = (name: string) => join(example, name);
    for (let i = 0; i < 4; i++) {
      await run(
        process.execPath,
        [
          script('zmumu.mjs'),
          '--first-event',
          `${i * 250}`,
          '--n-events',
          '250',
          '--write-events',
          `ev${i}.jsonl`,
        ],
        { cwd: dir },
      );
    }
    await run(process.execPath, [script('reco.mjs'), 'ev2.jsonl,ev0.jsonl', '--out', 'reco0.jsonl'], {
      cwd: dir,
    });
    await run(process.execPath, [script('reco.mjs'), 'ev3.jsonl,ev1.jsonl', '--out', 'reco1.jsonl'], {
      cwd: dir,
    });
    await run(process.execPath, [script('concat.mjs'), 'reco1.jsonl,reco0.jsonl'], { cwd: dir });
    const { stdout } = await run(process.execPath, [script('histogram.mjs'), 'merged.jsonl'], { cwd: dir });
    const h = JSON.parse(readFileSync(join(dir, 'histogram.json'), 'utf8')) as ChainHistogram;
    expect(sameHistogram(h, directHistogram(truthEvents(0, 1000)))).toBe(true);
    expect(h).toEqual(directHistogram(truthEvents(0, 1000)));
    expect(stdout).toMatch(/^histogram: \d+ events from 1 file, \d+ in 60-120 GeV/);
  });
});

describe('chain.yaml', () => {
  interface Payload {
    args: string[];
    sandbox: string[];
  }
  const spec = parse(readFileSync(join(example, 'chain.yaml'), 'utf8')) as {
    name: string;
    shape: string;
    nodes: {
      name: string;
      task?: { payload: Payload; events?: number; split: Record<string, number> };
      merge?: { filesPerMerge: number; payload: Payload; outputs: string[] };
    }[];
  };

  it('is a chain gen → reco → merge → hist of 20000 events in 10 generation jobs', () => {
    expect(spec).toMatchObject({ name: 'zmumu-chain', shape: 'chain' });
    expect(spec.nodes.map((n) => n.name)).toEqual(['gen', 'reco', 'merge', 'hist']);
    expect(spec.nodes[0]?.task).toMatchObject({ events: 20000, split: { eventsPerJob: 2000 } });
    expect(spec.nodes[2]?.merge).toMatchObject({ filesPerMerge: 3, outputs: ['merged.jsonl'] });
    expect(spec.nodes.slice(1).every((n) => !('inputs' in (n.task ?? {})))).toBe(true);
  });

  it('ships every script a step imports in that step’s sandbox', () => {
    const imports = (file: string): string[] =>
      [...readFileSync(join(example, file), 'utf8').matchAll(/from '\.\/([a-z]+\.mjs)'/g)].map(
        (m) => m[1] as string,
      );
    const closure = (file: string): string[] => [file, ...imports(file).flatMap(closure)];
    for (const node of spec.nodes) {
      const payload = (node.task ?? node.merge)?.payload as Payload;
      expect(new Set(payload.sandbox), node.name).toEqual(new Set(closure(payload.args[0] as string)));
    }
  });
});

describe('merge.mjs on the chain’s histograms', () => {
  it('adds the histograms of disjoint event sets into the histogram of their union', () => {
    const reco = reconstructEvents(truthEvents(0, 600));
    const parts = [reco.slice(0, 100), reco.slice(100, 250), reco.slice(250)].map((p) =>
      histogramOfEvents(p),
    );
    const whole = histogramOfEvents(reco);
    const added = mergeHistograms(parts);
    expect(added.counts).toEqual(whole.counts);
    expect(added).toMatchObject({ parts: 3, entries: whole.entries, selected: whole.selected });
    expect(added.nEvents).toBeUndefined();
    expect(sameHistogram(added, whole)).toBe(true);
  });

  it('still counts the events of zmumu.mjs histograms', () => {
    const merged = mergeHistograms([
      runZmumu({ firstEvent: 0, nEvents: 20 }),
      runZmumu({ firstEvent: 20, nEvents: 30 }),
    ]);
    expect(merged).toMatchObject({ firstEvent: 0, nEvents: 50 });
  });
});
