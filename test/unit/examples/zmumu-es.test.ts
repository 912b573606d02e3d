import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it, onTestFinished } from 'vitest';
import { rangeAt, rangeCount } from '#core/event-ranges/event-range.ts';
import { parseTaskSpecText } from '#core/tasks/task-spec.ts';
import { mergeHistograms } from '../../../examples/zmumu/merge.mjs';
import { runZmumu } from '../../../examples/zmumu/zmumu.mjs';

const example = join(import.meta.dirname, '../../../examples/zmumu');

describe('task-es.yaml', () => {
  function uploadedSpec() {
    const uploaded = (name: string) =>
      `{ name: ${name}, key: k/${name}, sha256: "${'0'.repeat(64)}", bytes: 1 }`;
    const text = readFileSync(join(example, 'task-es.yaml'), 'utf8').replace(
      'sandbox: [zmumu.mjs, merge.mjs]',
      `sandbox: [${uploaded('zmumu.mjs')}, ${uploaded('merge.mjs')}]`,
    );
    return parseTaskSpecText(text);
  }

  it('is a valid event-service spec: 20000 events in ranges of 200, 3 stream consumers, a merge over ${inputFiles}', () => {
    const spec = uploadedSpec();
    expect(spec).toMatchObject({
      name: 'zmumu-es',
      events: 20000,
      outputs: ['histogram.json'],
      eventService: {
        rangeSize: 200,
        consumers: 3,
        mode: 'stream',
        merge: { command: 'node', args: ['merge.mjs', `\${inputFiles}`, '--out', 'histogram.json'] },
      },
    });
    expect(spec.payload.sandbox.map((f) => f.name)).toEqual(['zmumu.mjs', 'merge.mjs']);
    expect(rangeCount(spec)).toBe(100);
    expect(rangeAt(spec, 99)).toEqual({ rangeIndex: 99, firstEvent: 19800, nEvents: 200 });
  });
});

describe('merge.mjs as a merge job', () => {
  it('merges the files of one comma-separated argument into histogram.json, as ${inputFiles} gives them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gluon-zmumu-es-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const parts = [0, 1, 2].map((i) => runZmumu({ firstEvent: i * 100, nEvents: 100 }));
    const names = parts.map((h, i) => {
      writeFileSync(join(dir, `r${i}.histogram.json`), `${JSON.stringify(h)}\n`);
      return `r${i}.histogram.json`;
    });
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [join(example, 'merge.mjs'), names.join(','), '--out', 'histogram.json'],
      { cwd: dir },
    );
    expect(stdout).toMatch(/merged 3 histograms: 300 events/);
    const merged = JSON.parse(readFileSync(join(dir, 'histogram.json'), 'utf8'));
    expect(merged).toEqual(JSON.parse(JSON.stringify(mergeHistograms(parts))));
    expect(merged.counts).toEqual(runZmumu({ firstEvent: 0, nEvents: 300 }).counts);
  });
});
