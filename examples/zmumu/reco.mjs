#!/usr/bin/env node
// Reconstruction, the second step of the Z → μμ chain (chain.yaml): reads the truth-level events
// zmumu.mjs --write-events wrote, smears each muon with zmumu.mjs's resolution model (from the
// event's own random stream, seeded by its number, so the result does not depend on how the
// events are split into files or jobs), keeps events whose two muons both pass the selection
// (pT > 20 GeV, |η| < 2.4) and writes them, with their dimuon mass, one JSON line each:
//   {"event":17,"mass":90.8,"muons":[{"pt":…,"eta":…,"phi":…},{…}]}
//
// Usage: node reco.mjs FILE... [--out reco.jsonl]
// An argument may list several files, comma-separated (a job's `${inputFiles}`).
// Plain JavaScript, no dependencies but zmumu.mjs beside it, Node 20 or newer.
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { dimuonMass, passesCuts, smearMuons } from './zmumu.mjs';

/** The reconstructed event, or undefined when it fails the selection. */
export function reconstructEvent(truth) {
  const muons = smearMuons(truth);
  if (!muons.every(passesCuts)) return undefined;
  return { event: truth.event, mass: dimuonMass(muons), muons };
}

/** The JSON lines of a file's text, parsed (blank lines skipped; a bad line names its number). */
export function parseJsonLines(text, source = 'input') {
  const records = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      records.push(JSON.parse(line));
    } catch (error) {
      throw new Error(`${source}: line ${i + 1} is not JSON (${error.message})`);
    }
  });
  return records;
}

/** Reconstructs truth events; the selected ones, in input order. */
export function reconstructEvents(truthEvents) {
  const reconstructed = [];
  for (const truth of truthEvents) {
    const event = reconstructEvent(truth);
    if (event !== undefined) reconstructed.push(event);
  }
  return reconstructed;
}

/** Command-line arguments: input files (comma-separated lists allowed) and `--out`. */
export function fileArguments(argv, defaultOut) {
  let out = defaultOut;
  const inputs = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out') out = argv[++i];
    else inputs.push(...argv[i].split(',').filter((name) => name !== ''));
  }
  return { inputs, out };
}

function main() {
  const { inputs, out } = fileArguments(process.argv.slice(2), 'reco.jsonl');
  if (inputs.length === 0 || out === undefined) {
    process.stderr.write('usage: node reco.mjs FILE... [--out reco.jsonl]\n');
    process.exit(2);
  }
  let read = 0;
  const lines = [];
  for (const file of inputs) {
    const truth = parseJsonLines(readFileSync(resolve(file), 'utf8'), file);
    read += truth.length;
    for (const event of reconstructEvents(truth)) lines.push(JSON.stringify(event));
  }
  writeFileSync(resolve(out), lines.length === 0 ? '' : `${lines.join('\n')}\n`);
  process.stdout.write(
    `reco: ${read} events from ${inputs.length} file${inputs.length === 1 ? '' : 's'}, ${lines.length} selected -> ${out}\n`,
  );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  try {
    main();
  } catch (error) {
    process.stderr.write(`reco: ${error.message}\n`);
    process.exit(1);
  }
}
