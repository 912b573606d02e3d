#!/usr/bin/env node
// The merge step of the Z → μμ chain (chain.yaml): concatenates JSON-lines files (reco.mjs's
// outputs) into one larger file, in the order given, each line unchanged, checking that every
// line is JSON so that a truncated input fails the job rather than the histogram after it.
//
// Usage: node concat.mjs FILE... [--out merged.jsonl]
// An argument may list several files, comma-separated (a merge job's `${inputFiles}`).
// Plain JavaScript, no dependencies but reco.mjs beside it, Node 20 or newer.
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { fileArguments, parseJsonLines } from './reco.mjs';

/** The files' texts as one JSON-lines text; every non-blank line is checked to be JSON. */
export function concatJsonLines(texts) {
  const lines = [];
  texts.forEach(({ name, text }) => {
    parseJsonLines(text, name);
    for (const line of text.split('\n')) if (line.trim() !== '') lines.push(line);
  });
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

function main() {
  const { inputs, out } = fileArguments(process.argv.slice(2), 'merged.jsonl');
  if (inputs.length === 0 || out === undefined) {
    process.stderr.write('usage: node concat.mjs FILE... [--out merged.jsonl]\n');
    process.exit(2);
  }
  const merged = concatJsonLines(inputs.map((name) => ({ name, text: readFileSync(resolve(name), 'utf8') })));
  writeFileSync(resolve(out), merged);
  const count = merged === '' ? 0 : merged.split('\n').length - 1;
  process.stdout.write(`concat: ${inputs.length} files, ${count} lines -> ${out}\n`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  try {
    main();
  } catch (error) {
    process.stderr.write(`concat: ${error.message}\n`);
    process.exit(1);
  }
}
