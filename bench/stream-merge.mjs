#!/usr/bin/env node
// The merge of `npm run bench -- --event-service`: adds the event counts the stream payload wrote
// per range (staged in as r<rangeIndex>.<output>) into OUT, and writes its own CPU to
// CPU_DIR/merge-<pid>.json (see stream-payload.mjs).
//
// Usage: node stream-merge.mjs CPU_DIR OUT IN1,IN2,…
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [cpuDir = '.', out = 'out.txt', list = ''] = process.argv.slice(2);
let events = 0;
let ranges = 0;
for (const file of list.split(',').filter((f) => f !== '')) {
  events += Number(readFileSync(file, 'utf8'));
  ranges += 1;
}
writeFileSync(out, `${JSON.stringify({ ranges, events })}\n`);
writeFileSync(join(cpuDir, `merge-${process.pid}.json`), JSON.stringify(process.cpuUsage()));
