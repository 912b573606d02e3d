/**
 * `npm run bench:pilot`: builds dist/gluon-pilot when it is not up to date, then prints its size
 * (raw and gzipped, as it would travel to a site) and its start-up time (`--version`, `--help`;
 * median of 10 runs each, with plain `node -e 0` of the same Node for comparison).
 */
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { buildPilot, formatMB } from '#pilot/build/build-pilot.ts';

const RUNS = 10;

async function gzippedSize(file: string): Promise<number> {
  let bytes = 0;
  await pipeline(createReadStream(file), createGzip(), async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) bytes += chunk.length;
  });
  return bytes;
}

/** Wall time of one run, in ms; rejects when the command fails. */
function timeRun(command: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { stdio: 'ignore', env: {}, cwd: '/' });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0) resolve(performance.now() - started);
      else reject(new Error(`${command} ${args.join(' ')} exited with ${code}`));
    });
  });
}

async function median(command: string, args: string[]): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) times.push(await timeRun(command, args));
  times.sort((a, b) => a - b);
  return ((times[(RUNS - 1) >> 1] as number) + (times[RUNS >> 1] as number)) / 2;
}

const built = await buildPilot({ log: (line) => process.stderr.write(`${line}\n`) });
const gz = await gzippedSize(built.path);
const rows: Array<[string, string]> = [
  ['binary', built.path],
  ['node', built.nodeVersion],
  ['build', built.built ? `${(built.ms / 1000).toFixed(1)} s` : 'up to date (not rebuilt)'],
  ['size', `${formatMB(built.sizeBytes)} (${built.sizeBytes} bytes)`],
  ['size gzipped', `${formatMB(gz)} (${gz} bytes)`],
  ['start-up --version', `${(await median(built.path, ['--version'])).toFixed(0)} ms (median of ${RUNS})`],
  ['start-up --help', `${(await median(built.path, ['--help'])).toFixed(0)} ms (median of ${RUNS})`],
  [
    'start-up node -e 0',
    `${(await median(process.execPath, ['-e', '0'])).toFixed(0)} ms (median of ${RUNS})`,
  ],
];
const width = Math.max(...rows.map(([k]) => k.length));
for (const [key, value] of rows) process.stdout.write(`${key.padEnd(width)}  ${value}\n`);
