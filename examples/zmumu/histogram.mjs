#!/usr/bin/env node
// The last step of the Z → μμ chain (chain.yaml): fills the dimuon mass of reconstructed events
// (reco.mjs's lines, merged or not) into zmumu.mjs's histogram (60 bins, 60–120 GeV) and writes
// histogram.json, which merge.mjs reads like zmumu.mjs's own:
//   {"bins":60,"low":60,"high":120,"counts":[…],"entries":…,"selected":…,"mean":…,"rms":…,"events":[first,last]}
// Events are filled in event-number order, so the result is the same however they were split
// and merged on the way; `directHistogram` computes it from the truth events in one go.
//
// Usage: node histogram.mjs FILE... [--out histogram.json]
// An argument may list several files, comma-separated (a job's `${inputFiles}`).
// Plain JavaScript, no dependencies but zmumu.mjs and reco.mjs beside it, Node 20 or newer.
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { fileArguments, parseJsonLines, reconstructEvents } from './reco.mjs';
import { fillMassHistogram } from './zmumu.mjs';

/**
 * The dimuon mass histogram of reconstructed events `{ event, mass }`. A duplicated event number
 * is an error: a file merged twice must not count twice.
 */
export function histogramOfEvents(events) {
  const sorted = [...events].sort((a, b) => a.event - b.event);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].event === sorted[i - 1].event) throw new Error(`event ${sorted[i].event} appears twice`);
  }
  const histogram = fillMassHistogram(sorted.map((e) => e.mass));
  return {
    ...histogram,
    selected: sorted.length,
    events: sorted.length === 0 ? [] : [sorted[0].event, sorted[sorted.length - 1].event],
  };
}

/** The histogram the chain should end with, straight from the truth events: reconstruct, select, fill. */
export function directHistogram(truthEvents) {
  return histogramOfEvents(reconstructEvents(truthEvents));
}

/** Whether two histograms have the same binning, counts, entries and selection (mean and rms to 1e-9). */
export function sameHistogram(a, b) {
  const close = (x, y) => Math.abs(x - y) <= 1e-9 * Math.max(1, Math.abs(x), Math.abs(y));
  return (
    a.bins === b.bins &&
    a.low === b.low &&
    a.high === b.high &&
    a.counts.length === b.counts.length &&
    a.counts.every((c, i) => c === b.counts[i]) &&
    a.entries === b.entries &&
    a.selected === b.selected &&
    close(a.mean, b.mean) &&
    close(a.rms, b.rms)
  );
}

function main() {
  const { inputs, out } = fileArguments(process.argv.slice(2), 'histogram.json');
  if (inputs.length === 0 || out === undefined) {
    process.stderr.write('usage: node histogram.mjs FILE... [--out histogram.json]\n');
    process.exit(2);
  }
  const events = inputs.flatMap((file) => parseJsonLines(readFileSync(resolve(file), 'utf8'), file));
  const histogram = histogramOfEvents(events);
  writeFileSync(resolve(out), `${JSON.stringify(histogram)}\n`);
  process.stdout.write(
    `histogram: ${events.length} events from ${inputs.length} file${inputs.length === 1 ? '' : 's'}, ` +
      `${histogram.entries} in ${histogram.low}-${histogram.high} GeV, mean ${histogram.mean.toFixed(2)} GeV -> ${out}\n`,
  );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  try {
    main();
  } catch (error) {
    process.stderr.write(`histogram: ${error.message}\n`);
    process.exit(1);
  }
}
