#!/usr/bin/env node
// Merges the histogram.json files of a zmumu task's jobs and prints a text histogram with the
// fitted Z peak position.
//
// Usage: node merge.mjs FILE_OR_DIR... [--out merged.json]
// A directory is searched (recursively) for files named histogram*.json. An argument may list
// several, comma-separated: an event-service task's merge job gets its range outputs as one
// `${inputFiles}` argument.
// Plain JavaScript, no dependencies, Node 20 or newer.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Adds histograms with the same binning; mean and rms are recombined from each part's moments. */
export function mergeHistograms(histograms) {
  if (histograms.length === 0) throw new Error('no histograms to merge');
  const [first] = histograms;
  const { bins, low, high } = first;
  const counts = new Array(bins).fill(0);
  let entries = 0;
  let selected = 0;
  let sum = 0;
  let sumSq = 0;
  const ranges = [];
  for (const h of histograms) {
    if (h.bins !== bins || h.low !== low || h.high !== high || h.counts.length !== bins) {
      throw new Error(`binning differs: ${h.bins} bins ${h.low}-${h.high} vs ${bins} bins ${low}-${high}`);
    }
    h.counts.forEach((c, i) => {
      counts[i] += c;
    });
    entries += h.entries;
    selected += h.selected;
    sum += h.mean * h.entries;
    sumSq += (h.rms * h.rms + h.mean * h.mean) * h.entries;
    // The chain's histograms (histogram.mjs) name no event range: theirs are left out.
    if (typeof h.firstEvent === 'number') ranges.push([h.firstEvent, h.firstEvent + h.nEvents]);
  }
  ranges.sort((a, b) => a[0] - b[0]);
  const mean = entries > 0 ? sum / entries : 0;
  const rms = entries > 0 ? Math.sqrt(Math.max(0, sumSq / entries - mean * mean)) : 0;
  const eventRange =
    ranges.length === 0
      ? {}
      : { firstEvent: ranges[0][0], nEvents: ranges.reduce((n, [a, b]) => n + (b - a), 0) };
  return { bins, low, high, counts, entries, selected, mean, rms, ...eventRange, parts: histograms.length };
}

/**
 * Peak position: the count-weighted mean of bin centres within ±halfWindow bins of the fullest
 * bin (a robust stand-in for a fit on a toy this size).
 */
export function peakPosition(histogram, halfWindow = 3) {
  const { bins, low, high, counts } = histogram;
  const width = (high - low) / bins;
  let max = 0;
  counts.forEach((c, i) => {
    if (c > counts[max]) max = i;
  });
  let weight = 0;
  let sum = 0;
  for (let i = Math.max(0, max - halfWindow); i <= Math.min(bins - 1, max + halfWindow); i++) {
    weight += counts[i];
    sum += counts[i] * (low + (i + 0.5) * width);
  }
  return weight > 0 ? sum / weight : Number.NaN;
}

/** One line per bin: `  90.0  91.0 | ######################## 1234`. */
export function textHistogram(histogram, maxBar = 50) {
  const { bins, low, high, counts } = histogram;
  const width = (high - low) / bins;
  const max = Math.max(1, ...counts);
  return counts
    .map((c, i) => {
      const edge = (x) => x.toFixed(1).padStart(6);
      const bar = '#'.repeat(Math.round((c / max) * maxBar));
      return `${edge(low + i * width)} ${edge(low + (i + 1) * width)} | ${bar} ${c}`;
    })
    .join('\n');
}

function findHistogramFiles(path) {
  const info = statSync(path);
  if (!info.isDirectory()) return [path];
  const found = [];
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    const child = join(path, entry.name);
    if (entry.isDirectory()) found.push(...findHistogramFiles(child));
    else if (/^histogram.*\.json$/.test(entry.name)) found.push(child);
  }
  return found.sort();
}

function main() {
  const args = process.argv.slice(2);
  let out;
  const inputs = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--out') out = args[++i];
    else inputs.push(...args[i].split(',').filter((name) => name !== ''));
  }
  if (inputs.length === 0) {
    process.stderr.write('usage: node merge.mjs FILE_OR_DIR... [--out merged.json]\n');
    process.exit(2);
  }
  const files = inputs.flatMap((p) => findHistogramFiles(resolve(p)));
  const merged = mergeHistograms(files.map((f) => JSON.parse(readFileSync(f, 'utf8'))));
  process.stdout.write(`${textHistogram(merged)}\n`);
  process.stdout.write(
    `merged ${files.length} histogram${files.length === 1 ? '' : 's'}: ` +
      `${merged.nEvents === undefined ? '' : `${merged.nEvents} events, `}${merged.selected} ` +
      `selected, ${merged.entries} in ${merged.low}-${merged.high} GeV; mean ${merged.mean.toFixed(2)} GeV, ` +
      `rms ${merged.rms.toFixed(2)} GeV; peak at ${peakPosition(merged).toFixed(2)} GeV (mZ = 91.19 GeV)\n`,
  );
  if (out !== undefined) writeFileSync(resolve(out), `${JSON.stringify(merged)}\n`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) main();
