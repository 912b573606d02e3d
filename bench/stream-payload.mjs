#!/usr/bin/env node
// The trivial stream payload of `npm run bench -- --event-service` (pilot/README.md, "Stream
// mode: the protocol"): per range line read on GLUON_RANGES_FIFO it writes the range's event count
// to the output path the line names and answers on GLUON_RESULTS_FIFO; at the end line (or EOF)
// it writes its own CPU (process.cpuUsage(), Node's start-up included) to CPU_DIR/stream-<pid>.json,
// so the benchmark can tell the pilot's CPU from the payload's.
//
// Usage: node stream-payload.mjs CPU_DIR
import { closeSync, constants, openSync, writeFileSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';

const cpuDir = process.argv[2] ?? '.';
const results = openSync(process.env.GLUON_RESULTS_FIFO ?? '', 'w');
// A socket on a non-blocking descriptor: an fs stream would keep a read of the pipe pending on the
// thread pool, and the process could not exit before the pilot closes the pipe.
const ranges = new Socket({
  fd: openSync(process.env.GLUON_RANGES_FIFO ?? '', constants.O_RDONLY | constants.O_NONBLOCK),
  readable: true,
  writable: false,
});
let buffered = '';
let ended = false;

function finish() {
  if (ended) return;
  ended = true;
  ranges.destroy();
  closeSync(results);
  writeFileSync(join(cpuDir, `stream-${process.pid}.json`), JSON.stringify(process.cpuUsage()));
}

function onLine(text) {
  const range = JSON.parse(text);
  if (range.end === true) return finish();
  writeFileSync(range.output, `${range.nEvents}\n`);
  writeSync(results, `{"rangeIndex":${range.rangeIndex},"ok":true}\n`);
}

ranges.setEncoding('utf8');
ranges.on('data', (chunk) => {
  buffered += chunk;
  for (let nl = buffered.indexOf('\n'); nl >= 0 && !ended; nl = buffered.indexOf('\n')) {
    const line = buffered.slice(0, nl);
    buffered = buffered.slice(nl + 1);
    if (line.trim() !== '') onLine(line);
  }
});
ranges.on('end', finish);
