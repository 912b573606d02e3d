import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler as getJobLog } from '#lambdas/jobs/get-job-log/handler.ts';
import { createHandler as getJobOutput } from '#lambdas/jobs/get-job-output/handler.ts';
import { createHandler as listTaskOutputs } from '#lambdas/jobs/list-task-outputs/handler.ts';
import { type ApiServer, startApiServer } from '#local/api-server.ts';
import { createLocalAuth, LOCAL_USER_SUB } from '#local/auth.ts';
import { adler32 } from '#pilot/adler32.ts';
import { createHandlerHarness, type HandlerHarness } from '#test/support/handler-harness.ts';
import {
  FAILED,
  generationSpec,
  nth,
  refOf,
  registerPilot,
  report,
  runAttempt,
  runningTask,
} from '../lambdas/task-flow.ts';

/** `gluon logs` and `gluon outputs` against the real handlers, DynamoDB Local and fauxqs's S3. */
let h: HandlerHarness;
let server: ApiServer;
let dir: string;
let env: Record<string, string>;
let taskId: string;
const LOG = 'payload: starting\nboom: the payload said this on stderr\n';
/** Two jobs' outputs of 300 kB each, bytes unlike each other. */
const CONTENT = [0, 1].map((j) =>
  Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * (j + 3)) % 253)),
);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function gluon(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(import.meta.dirname, '../../../cli/main.ts'), ...args],
      { cwd: dir, env, timeout: 30_000 },
      (error, stdout, stderr) => {
        resolve({
          code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1,
          stdout,
          stderr,
        });
      },
    );
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gluon-cli-results-'));
  h = await createHandlerHarness();
  const auth = await createLocalAuth({ stateDir: join(dir, 'auth') });
  server = await startApiServer({
    port: 0,
    handlers: {
      'get-job-log': getJobLog(h.deps),
      'get-job-output': getJobOutput(h.deps),
      'list-task-outputs': listTaskOutputs(h.deps),
    },
    auth,
    log: () => {},
  });
  env = {
    PATH: process.env.PATH ?? '',
    HOME: dir,
    NO_COLOR: '1',
    GLUON_API_URL: server.url,
    GLUON_TOKEN: await auth.userToken(),
  };
  // Jobs 0 and 1 finish with one output each (known bytes); job 2 fails (its log is in S3).
  const pilotId = await registerPilot(h);
  const running = await runningTask(h, generationSpec(3, { maxAttempts: 1 }), LOCAL_USER_SUB);
  taskId = running.taskId;
  for (const j of [0, 1]) {
    const ref = refOf(nth(running.messages, j));
    const base = report(ref).outputs?.[0];
    const body = nth(CONTENT, j);
    const output = { name: 'events.root', key: base?.key ?? '', bytes: body.length, adler32: adler32(body) };
    await h.s3.send(new PutObjectCommand({ Bucket: h.bucket, Key: output.key, Body: body }));
    await runAttempt(h, pilotId, ref, { outputs: [output] });
  }
  const failed = refOf(nth(running.messages, 2));
  await runAttempt(h, pilotId, failed, FAILED);
  await h.s3.send(new PutObjectCommand({ Bucket: h.bucket, Key: report(failed).log?.key, Body: LOG }));
  await h.settleJobChanges();
});

afterAll(async () => {
  await server?.stop();
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('gluon logs', () => {
  it("prints a failed job's log", async () => {
    const run = await gluon(['logs', taskId, '--job', '2']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(LOG);
  });

  it('prints the presigned URL with --json', async () => {
    const run = await gluon(['logs', taskId, '--job', '2', '--json']);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ taskId, index: 2, attempt: 1, expiresInSec: 3600 });
  });

  it('exits 1 naming what is missing, and 2 for a bad attempt before asking the API', async () => {
    const missing = await gluon(['logs', taskId, '--job', '2', '--attempt', '4']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`attempt 4 of job ${taskId}.2 not found`);
    const bad = await gluon(['logs', taskId, '--job', '2', '--attempt', '0']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("option '--attempt <n>' argument '0' is invalid");
  });
});

describe('gluon outputs', () => {
  it('downloads every output into DEST/<index>/<name>, verified; a second run fetches nothing', async () => {
    const dest = join(dir, 'all');
    const run = await gluon(['outputs', taskId, '--dest', dest]);
    expect(run.code).toBe(0);
    for (const j of [0, 1]) {
      expect(readFileSync(join(dest, String(j), 'events.root')).equals(nth(CONTENT, j))).toBe(true);
      expect(run.stderr).toContain(
        `all/${j}/events.root  100% (293.0 KiB)  adler32 ${adler32(nth(CONTENT, j))}  downloaded`,
      );
    }
    const again = await gluon(['outputs', taskId, '--dest', dest, '--json']);
    expect(again.code).toBe(0);
    const done = JSON.parse(again.stdout) as Array<{ index: number; outcome: string }>;
    expect(done.map((d) => [d.index, d.outcome])).toEqual([
      [0, 'skipped'],
      [1, 'skipped'],
    ]);
  });

  it('resumes a .part of one job into ./<task>/ by default', async () => {
    const part = join(dir, taskId, '1', 'events.root.part');
    mkdirSync(join(part, '..'), { recursive: true });
    writeFileSync(part, nth(CONTENT, 1).subarray(0, 120_000));
    const run = await gluon(['outputs', taskId, '--job', '1']);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain(`${taskId}/1/events.root  100% (293.0 KiB)`);
    expect(run.stderr).toContain('resumed');
    expect(readFileSync(join(dir, taskId, '1', 'events.root')).equals(nth(CONTENT, 1))).toBe(true);
    expect(existsSync(part)).toBe(false);
    expect(existsSync(join(dir, taskId, '0'))).toBe(false);
  });

  it('fails naming the file when a .part is not a prefix of the output, and removes it', async () => {
    const dest = join(dir, 'bad');
    const part = join(dest, '0', 'events.root.part');
    mkdirSync(join(part, '..'), { recursive: true });
    writeFileSync(part, Buffer.alloc(1000, 0xee));
    const run = await gluon(['outputs', taskId, '--job', '0', '--dest', dest]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`checksum mismatch for ${join(dest, '0', 'events.root')}: adler32`);
    expect(existsSync(part)).toBe(false);
    const retry = await gluon(['outputs', taskId, '--job', '0', '--dest', dest]);
    expect(retry.code).toBe(0);
    expect(readFileSync(join(dest, '0', 'events.root')).equals(nth(CONTENT, 0))).toBe(true);
  });

  it('says so when a job has no outputs', async () => {
    const run = await gluon(['outputs', taskId, '--job', '2']);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe(`job ${taskId}.2 has no outputs (yet)\n`);
  });
});
