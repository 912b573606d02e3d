/**
 * The single executable dist/gluon-pilot, run in an empty directory with a clean environment (as
 * `env -i` would): its help documents every option, `factory --once` asks a (fake) API for the
 * demand and submits pilots through (fake) Slurm commands, naming itself as the pilot binary, and
 * `run` takes a job from the fake pilot API (fauxqs for SQS and S3, its lease in DynamoDB Local).
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SiteDemand } from '#core/api/sites.ts';
import { buildPilot } from '#pilot/build/build-pilot.ts';
import { PILOT_OPTIONS } from '#pilot/config.ts';
import { FACTORY_OPTIONS } from '#pilot/factory/factory-config.ts';
import { PILOT_VERSION } from '#pilot/version.ts';
import { newTaskId, usePilotHarness } from '../pilot/pilot-harness.ts';

let binary: string;
let emptyDir: string;
let server: Server | undefined;
let apiUrl: string;
const demandRequests: Array<{ url: string; authorization: string | undefined }> = [];
const h = usePilotHarness({ leases: 'dynamodb' });

function run(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { cwd: emptyDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const demand: SiteDemand = {
  siteId: 'cern',
  status: 'online',
  queuedJobs: 40,
  pilots: { starting: 0, idle: 0, busy: 1, draining: 0 },
  maxPilots: 10,
  pilotsWanted: 9,
  slot: { cores: 2, memoryMB: 3000, walltimeSec: 3600, diskMB: 5000 },
};

beforeAll(async () => {
  binary = (await buildPilot()).path;
  emptyDir = mkdtempSync(join(tmpdir(), 'gluon-pilot-empty-'));
  server = createServer((request, response) => {
    demandRequests.push({ url: request.url ?? '', authorization: request.headers.authorization });
    const found = request.method === 'GET' && request.url === '/sites/cern/demand';
    response.writeHead(found ? 200 : 404, { 'content-type': 'application/json' });
    response.end(JSON.stringify(found ? demand : { error: { code: 'NOT_FOUND', message: 'no route' } }));
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  apiUrl = `http://127.0.0.1:${address.port}`;
}, 120_000);

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
});

describe('dist/gluon-pilot', () => {
  it('prints its version and documents its commands with a clean environment', async () => {
    const version = await run(['--version']);
    expect(version).toMatchObject({ code: 0, stdout: `${PILOT_VERSION}\n` });
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^ {2}run \[options\]/m);
    expect(help.stdout).toMatch(/^ {2}factory \[options\]/m);
  });

  it('documents every factory option with its variable', async () => {
    const help = await run(['factory', '--help']);
    expect(help.code).toBe(0);
    const text = help.stdout.replace(/\s+/g, ' ');
    for (const option of FACTORY_OPTIONS) {
      expect(text).toContain(option.flag);
      expect(text).toContain(`[env ${option.env}]`);
    }
    expect(text).toContain('--once');
  });

  it('exits with 2 naming the missing option', async () => {
    const result = await run(['factory', '--api-url', apiUrl, '--site', 'cern']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--token is required (or set GLUON_PILOT_TOKEN)');
  });

  it('runs one factory cycle: asks the demand, submits pilots of itself through sbatch within --max-pending', async () => {
    // Fake Slurm commands: squeue shows one of our pilots running; sbatch records what it got.
    const fakeBin = mkdtempSync(join(tmpdir(), 'gluon-fake-slurm-'));
    const record = join(fakeBin, 'sbatch.log');
    writeFileSync(join(fakeBin, 'squeue'), '#!/bin/sh\necho "$*" >> "$0.log"\necho "7|RUNNING"\n');
    writeFileSync(
      join(fakeBin, 'sbatch'),
      [
        '#!/bin/sh',
        `n=$(cat "${record}.n" 2>/dev/null || echo 100); n=$((n + 1)); echo $n > "${record}.n"`,
        `{ echo "ARGS $*"; echo "TOKEN $GLUON_PILOT_TOKEN"; echo "REGION $AWS_REGION"; cat; echo; } >> "${record}"`,
        'echo $n',
      ].join('\n'),
    );
    chmodSync(join(fakeBin, 'squeue'), 0o755);
    chmodSync(join(fakeBin, 'sbatch'), 0o755);
    const logDir = join(fakeBin, 'logs');

    const result = await run(
      ['factory', '--api-url', apiUrl, '--site', 'cern', '--once', '--max-pending', '2', '--log-dir', logDir],
      {
        PATH: `${fakeBin}:/usr/bin:/bin`,
        GLUON_PILOT_TOKEN: 'pilot-token-1',
        AWS_REGION: 'eu-central-1',
        AWS_SECRET_ACCESS_KEY: 'must-not-travel',
      },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(demandRequests.at(-1)).toEqual({
      url: '/sites/cern/demand',
      authorization: 'Bearer pilot-token-1',
    });
    expect(readFileSync(join(fakeBin, 'squeue.log'), 'utf8')).toContain('--name=gluon-pilot-cern');

    const submitted = readFileSync(record, 'utf8');
    expect(submitted.match(/^ARGS /gm)).toHaveLength(2);
    expect(submitted).toContain('--cpus-per-task=2');
    expect(submitted).toContain('--mem=3000M');
    expect(submitted).toContain('--time=60');
    expect(submitted).toContain(`--output=${logDir}/%x-%j.log`);
    expect(submitted).toMatch(/--export=PATH,AWS_REGION,GLUON_PILOT_TOKEN(\s|$)/m);
    expect(submitted).toContain('TOKEN pilot-token-1');
    expect(submitted).toContain('REGION eu-central-1');
    expect(submitted).not.toContain('must-not-travel');
    expect(submitted).toContain(
      `exec ${binary} run --api-url ${apiUrl} --site cern --batch-id "$SLURM_JOB_ID" --walltime-sec 3420 --cores 2 --memory-mb 3000`,
    );
    expect(submitted.match(/^ARGS .*$/gm)?.join('\n')).not.toContain('pilot-token-1');

    const cycle = result.stderr
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((r) => r.message === 'factory cycle');
    expect(cycle).toMatchObject({
      pilotsWanted: 9,
      pending: 0,
      running: 1,
      submitted: 2,
      batchIds: ['101', '102'],
    });
  });

  it('runs a job as a pilot, renewing its lease in the table the API named, with no file of the repository', async () => {
    const taskId = newTaskId();
    const job = h.makeJob(taskId, 0);
    await h.queueJob(job);
    const pilot = h.startPilot(['--max-jobs', '1'], { command: [binary], cwd: emptyDir });
    expect((await h.exitOf(pilot)).code, pilot.output()).toBe(0);
    expect(h.api.reports()).toEqual([expect.objectContaining({ taskId, pilotErrorCode: 0, exitCode: 0 })]);
    expect(await h.objectText(`${job.outputPrefix}out.txt`)).toBe('hi\n');
    expect(await h.lease()).toMatchObject({ state: 'exited', jobsRun: 1 });
  });

  it('documents every option of run', async () => {
    const help = await run(['run', '--help']);
    expect(help.code).toBe(0);
    const text = help.stdout.replace(/\s+/g, ' ');
    for (const option of PILOT_OPTIONS) expect(text).toContain(option.flag);
  });
});
