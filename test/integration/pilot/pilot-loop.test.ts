/**
 * The real pilot process (`node pilot/main.ts run …`) against a fake of the API's pilot routes
 * and a real fauxqs for SQS and S3.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  type QueueAttributeName,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ClaimedJob, CompleteRequest, HeartbeatRequest } from '#core/api.ts';
import type { PilotRegistration } from '#core/model/pilot.ts';
import { PILOT_ERROR_CODES } from '#core/model/pilot-error-codes.ts';
import { awsEnvFor, freePort, type StandIn, startFauxqs } from '#local/stand-ins.ts';
import { adler32 } from '#pilot/adler32.ts';
import { type FakeApi, PILOT_ID, startFakeApi } from './fake-api.ts';

const REPO = resolve(import.meta.dirname, '../../..');
const SITE = 'site-a';
const BUCKET = 'gluon-pilot-test';
const MAX_RECEIVE_COUNT = 3;

let fauxqs: StandIn;
let sqs: SQSClient;
let s3: S3Client;
let awsEnv: Record<string, string>;

let api: FakeApi;
let queueUrl: string;
let dlqUrl: string;
let workDir: string;
/** Set in the env of every test job's payload, to find (and end) its processes. */
let marker: string;
let pilots: ChildProcess[] = [];

beforeAll(async () => {
  fauxqs = await startFauxqs({ port: await freePort() });
  awsEnv = awsEnvFor({ dynamodb: 'http://127.0.0.1:9', sqs: fauxqs.endpoint, s3: fauxqs.endpoint });
  const clientConfig = {
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  };
  sqs = new SQSClient({ ...clientConfig, endpoint: fauxqs.endpoint });
  s3 = new S3Client({ ...clientConfig, endpoint: fauxqs.endpoint, forcePathStyle: true });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
});

afterAll(async () => {
  sqs?.destroy();
  s3?.destroy();
  await fauxqs?.stop();
});

beforeEach(async () => {
  const name = `site-a-${randomUUID().slice(0, 8)}`;
  const dlq = await sqs.send(new CreateQueueCommand({ QueueName: `${name}-dlq` }));
  dlqUrl = dlq.QueueUrl as string;
  const dlqArn = (
    await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }))
  ).Attributes?.QueueArn as string;
  const queue = await sqs.send(
    new CreateQueueCommand({
      QueueName: name,
      Attributes: {
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: MAX_RECEIVE_COUNT }),
      },
    }),
  );
  queueUrl = queue.QueueUrl as string;
  api = await startFakeApi({ queueUrl, bucket: BUCKET, siteId: SITE });
  workDir = mkdtempSync(join(tmpdir(), 'gluon-pilot-loop-'));
  marker = randomUUID();
});

afterEach(async () => {
  for (const pilot of pilots) if (pilot.exitCode === null && pilot.signalCode === null) pilot.kill('SIGKILL');
  pilots = [];
  for (const pid of processesWithMarker(marker)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  await api.stop();
  rmSync(workDir, { recursive: true, force: true });
});

// ---- helpers -----------------------------------------------------------------------------------

interface RunningPilot {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
}

function startPilot(
  extraArgs: string[],
  options: { env?: Record<string, string>; withDefaults?: boolean } = {},
) {
  const args =
    options.withDefaults === false
      ? extraArgs
      : [
          '--api-url',
          api.url,
          '--site',
          SITE,
          '--work-dir',
          workDir,
          '--poll-wait-sec',
          '1',
          '--kill-grace-sec',
          '1',
          '--cores',
          '2',
          '--memory-mb',
          '4000',
          '--disk-mb',
          '10000',
          // The load of a shared test machine is not what these tests are about (see the load check's own tests).
          '--max-load-per-core',
          '1000',
          ...extraArgs,
        ];
  const child = spawn(process.execPath, ['pilot/main.ts', 'run', ...args], {
    cwd: REPO,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/tmp',
      GLUON_PILOT_TOKEN: api.token,
      ...awsEnv,
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  pilots.push(child);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) =>
    child.once('exit', (code, signal) => resolveExit({ code, signal })),
  );
  return { child, exited, output: () => output } satisfies RunningPilot;
}

async function waitFor<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 20_000,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits for the pilot to exit; fails with its output when it does not within the time given. */
async function exitOf(pilot: RunningPilot, timeoutMs = 30_000) {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`pilot did not exit in ${timeoutMs} ms:\n${pilot.output()}`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([pilot.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function processesWithMarker(value: string): number[] {
  const needle = `\0TEST_MARKER=${value}\0`;
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (`\0${readFileSync(`/proc/${name}/environ`, 'latin1')}\0`.includes(needle)) pids.push(Number(name));
    } catch {
      // gone or not ours
    }
  }
  return pids;
}

function newTaskId(): string {
  return `t-${randomUUID().replaceAll('-', '').slice(0, 16)}`;
}

function makeJob(taskId: string, jobIndex: number, overrides: Partial<ClaimedJob> = {}): ClaimedJob {
  return {
    taskId,
    jobId: `${taskId}.${jobIndex}`,
    jobIndex,
    attempt: 1,
    payload: { command: 'sh', args: ['-c', 'echo hi > out.txt'], env: { TEST_MARKER: marker }, sandbox: [] },
    resources: { cores: 1, memoryMB: 2000, walltimeSec: 60, diskMB: 100 },
    outputs: ['out.txt'],
    outputPrefix: `tasks/${taskId}/jobs/${jobIndex}/attempt-1/`,
    leaseExpiresAt: Date.now() + 60_000,
    ...overrides,
  };
}

async function sendJobMessage(taskId: string, jobIndex: number): Promise<void> {
  const body = JSON.stringify({ v: 1, taskId, jobIndex, attempt: 1, siteId: SITE });
  await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body }));
}

async function messageCount(url: string): Promise<number> {
  const names: QueueAttributeName[] = [
    'ApproximateNumberOfMessages',
    'ApproximateNumberOfMessagesNotVisible',
    'ApproximateNumberOfMessagesDelayed',
  ];
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: names }),
  );
  return names.reduce((sum, name) => sum + Number(Attributes?.[name] ?? 0), 0);
}

async function objectText(key: string): Promise<string> {
  const object = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return (await object.Body?.transformToString()) ?? '';
}

// ---- tests -------------------------------------------------------------------------------------

describe('gluon-pilot run', () => {
  it('registers, claims, runs a job, uploads its output and log, and reports success', async () => {
    const taskId = newTaskId();
    const job = makeJob(taskId, 0);
    api.jobs.set(`${taskId}.0`, job);
    await sendJobMessage(taskId, 0);

    const pilot = startPilot(['--max-jobs', '1', '--batch-id', 'slurm-42', '--host', 'wn01.example.org']);
    const { code } = await exitOf(pilot);
    expect(code, pilot.output()).toBe(0);

    const [registration] = api.bodies<PilotRegistration>('register');
    expect(registration).toMatchObject({
      siteId: SITE,
      host: 'wn01.example.org',
      batchId: 'slurm-42',
      resources: { cores: 2, memoryMB: 4000, diskMB: 10000 },
    });
    expect(registration?.resources.walltimeLeftSec).toBeGreaterThan(86_390);
    expect(registration?.pid).toBe(pilot.child.pid);
    const posts = api.requests.filter((r) => r.method === 'POST');
    expect(posts.every((r) => r.authorization === `Bearer ${api.token}`)).toBe(true);
    expect(api.requests.map((r) => r.path)).toContain(`/pilots/${PILOT_ID}/claim`);
    expect(api.bodies('claim')).toEqual([
      expect.objectContaining({
        taskId,
        jobIndex: 0,
        attempt: 1,
        resources: expect.objectContaining({ cores: 2 }),
      }),
    ]);

    const completes = api.bodies<CompleteRequest>('complete');
    expect(completes).toHaveLength(1);
    const complete = completes[0] as CompleteRequest;
    const prefix = job.outputPrefix;
    expect(complete).toMatchObject({
      taskId,
      jobIndex: 0,
      attempt: 1,
      exitCode: 0,
      pilotErrorCode: PILOT_ERROR_CODES.OK,
      outputs: [{ name: 'out.txt', key: `${prefix}out.txt`, bytes: 3, adler32: adler32('hi\n') }],
      logKey: `${prefix}payload.log`,
      host: 'wn01.example.org',
    });
    expect(complete.usage.wallTimeSec).toBeGreaterThan(0);
    expect(await objectText(`${prefix}out.txt`)).toBe('hi\n');
    expect(await objectText(`${prefix}payload.log`)).toBe('');
    expect(await messageCount(queueUrl)).toBe(0);

    const heartbeats = api.bodies<HeartbeatRequest>('heartbeat');
    expect(heartbeats).toContainEqual({
      state: 'busy',
      jobs: [{ taskId, jobIndex: 0, attempt: 1, phase: 'running' }],
    });
    expect(heartbeats.at(-1)).toEqual({ state: 'exited', jobs: [] });
    // The job's work directory and log are cleaned up after the report.
    expect(readdirSync(workDir)).toEqual([]);
  });

  it('stages in a sandbox file, runs it and reports a missing declared output as OUTPUT_MISSING', async () => {
    const script = '#!/bin/sh\necho "sandbox ran for job $GLUON_JOB_INDEX"\n';
    const sha256 = createHash('sha256').update(script).digest('hex');
    const key = `sandboxes/${randomUUID()}/run.sh`;
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: script }));
    const taskId = newTaskId();
    const job = makeJob(taskId, 4, {
      payload: {
        command: './run.sh',
        args: [],
        env: { TEST_MARKER: marker },
        sandbox: [{ name: 'run.sh', key, sha256, bytes: Buffer.byteLength(script) }],
      },
      outputs: ['result.root'],
    });
    api.jobs.set(`${taskId}.4`, job);
    await sendJobMessage(taskId, 4);

    const pilot = startPilot(['--max-jobs', '1']);
    expect((await exitOf(pilot)).code, pilot.output()).toBe(0);
    const [complete] = api.bodies<CompleteRequest>('complete');
    expect(complete).toMatchObject({
      pilotErrorCode: PILOT_ERROR_CODES.OUTPUT_MISSING,
      exitCode: 0,
      outputs: [],
    });
    expect(complete?.errorMessage).toContain('result.root');
    expect(await objectText(`${job.outputPrefix}payload.log`)).toBe('sandbox ran for job 4\n');
  });

  it('reports STAGE_IN_FAILED when a sandbox file does not match its checksum', async () => {
    const key = `sandboxes/${randomUUID()}/run.sh`;
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: 'echo tampered\n' }));
    const taskId = newTaskId();
    api.jobs.set(
      `${taskId}.0`,
      makeJob(taskId, 0, {
        payload: {
          command: './run.sh',
          args: [],
          env: {},
          sandbox: [{ name: 'run.sh', key, sha256: '0'.repeat(64), bytes: 14 }],
        },
      }),
    );
    await sendJobMessage(taskId, 0);
    const pilot = startPilot(['--max-jobs', '1']);
    expect((await exitOf(pilot, 60_000)).code, pilot.output()).toBe(0);
    const [complete] = api.bodies<CompleteRequest>('complete');
    expect(complete?.pilotErrorCode).toBe(PILOT_ERROR_CODES.STAGE_IN_FAILED);
    expect(complete?.errorMessage).toContain('checksum mismatch');
  });

  it('leaves a malformed message for the dead-letter queue and exits after idle-exit-sec', async () => {
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'this is not a job message' }));
    const pilot = startPilot(['--idle-exit-sec', '5']);
    const { code } = await exitOf(pilot);
    expect(code, pilot.output()).toBe(0);
    expect(api.bodies('claim')).toEqual([]);
    expect(pilot.output()).toContain('malformed job message');
    // Never deleted: received again until SQS moved it to the DLQ.
    expect(await messageCount(queueUrl)).toBe(0);
    expect(await messageCount(dlqUrl)).toBe(1);
    const heartbeats = api.bodies<HeartbeatRequest>('heartbeat');
    expect(heartbeats).toContainEqual({ state: 'idle', jobs: [] });
    expect(heartbeats.at(-1)).toEqual({ state: 'exited', jobs: [] });
  });

  it('acknowledges a stale message without running anything', async () => {
    const taskId = newTaskId();
    api.jobs.set(`${taskId}.0`, { outcome: 'stale', reason: 'attempt 1 is already running elsewhere' });
    await sendJobMessage(taskId, 0);
    const pilot = startPilot(['--idle-exit-sec', '2']);
    expect((await exitOf(pilot)).code, pilot.output()).toBe(0);
    expect(api.bodies('claim')).toHaveLength(1);
    expect(api.bodies('complete')).toEqual([]);
    expect(await messageCount(queueUrl)).toBe(0);
    expect(await messageCount(dlqUrl)).toBe(0);
  });

  it('drains on SIGTERM: ends the payload, reports EVICTED and exits within 15 s', async () => {
    const taskId = newTaskId();
    api.jobs.set(
      `${taskId}.0`,
      makeJob(taskId, 0, {
        payload: { command: 'sleep', args: ['30'], env: { TEST_MARKER: marker }, sandbox: [] },
        outputs: [],
      }),
    );
    await sendJobMessage(taskId, 0);
    const pilot = startPilot([]);
    await waitFor('the job to be running', () =>
      api.bodies<HeartbeatRequest>('heartbeat').some((h) => h.jobs.some((j) => j.phase === 'running')),
    );
    expect(processesWithMarker(marker).length).toBeGreaterThan(0);

    const signalledAt = Date.now();
    pilot.child.kill('SIGTERM');
    const { code } = await exitOf(pilot, 20_000);
    expect(Date.now() - signalledAt).toBeLessThan(15_000);
    expect(code, pilot.output()).toBe(0);
    const [complete] = api.bodies<CompleteRequest>('complete');
    expect(complete).toMatchObject({
      taskId,
      jobIndex: 0,
      attempt: 1,
      pilotErrorCode: PILOT_ERROR_CODES.EVICTED,
    });
    expect(complete?.signal).toBe('SIGTERM');
    expect(api.bodies<HeartbeatRequest>('heartbeat').at(-1)).toEqual({ state: 'exited', jobs: [] });
    expect(processesWithMarker(marker)).toEqual([]);
  });

  it('exits at once on a second signal, killing a payload that ignores SIGTERM', async () => {
    const taskId = newTaskId();
    api.jobs.set(
      `${taskId}.0`,
      makeJob(taskId, 0, {
        payload: {
          command: 'sh',
          args: ['-c', 'trap "" TERM; sleep 30'],
          env: { TEST_MARKER: marker },
          sandbox: [],
        },
        outputs: [],
      }),
    );
    await sendJobMessage(taskId, 0);
    // A long grace: the drain after the first signal would wait for it.
    const pilot = startPilot(['--kill-grace-sec', '60']);
    await waitFor('the job to be running', () =>
      api.bodies<HeartbeatRequest>('heartbeat').some((h) => h.jobs.some((j) => j.phase === 'running')),
    );
    pilot.child.kill('SIGTERM');
    await waitFor('the pilot to start draining', () => pilot.output().includes('"msg":"stopping"'));
    pilot.child.kill('SIGTERM');
    const { code } = await exitOf(pilot, 10_000);
    expect(code).toBe(143);
    await waitFor('the payload to be gone', () => processesWithMarker(marker).length === 0, 5000);
  });

  it('hands an unfit job back to the queue for others', async () => {
    const taskId = newTaskId();
    api.jobs.set(`${taskId}.0`, { outcome: 'unfit', reason: 'needs 64 cores' });
    await sendJobMessage(taskId, 0);
    const pilot = startPilot(['--idle-exit-sec', '3']);
    expect((await exitOf(pilot)).code, pilot.output()).toBe(0);
    // Claimed once: afterwards the message stayed invisible (30 s) instead of coming straight back.
    expect(api.bodies('claim')).toHaveLength(1);
    expect(await messageCount(queueUrl)).toBe(1);
    expect(await messageCount(dlqUrl)).toBe(0);
  });

  it('kills the payload and reports CANCELLED when a heartbeat answer says the job was cancelled', async () => {
    const taskId = newTaskId();
    api.jobs.set(
      `${taskId}.0`,
      makeJob(taskId, 0, {
        payload: { command: 'sleep', args: ['30'], env: { TEST_MARKER: marker }, sandbox: [] },
        outputs: [],
      }),
    );
    api.kill.set(`${taskId}.0`, 'task cancelled by its owner');
    await sendJobMessage(taskId, 0);
    const pilot = startPilot(['--max-jobs', '1']);
    expect((await exitOf(pilot)).code, pilot.output()).toBe(0);
    const [complete] = api.bodies<CompleteRequest>('complete');
    expect(complete?.pilotErrorCode).toBe(PILOT_ERROR_CODES.CANCELLED);
    expect(processesWithMarker(marker)).toEqual([]);
  });

  it('takes no job when less than a minute of its own walltime is left', async () => {
    const taskId = newTaskId();
    api.jobs.set(`${taskId}.0`, makeJob(taskId, 0));
    await sendJobMessage(taskId, 0);
    const pilot = startPilot(['--walltime-sec', '50']);
    expect((await exitOf(pilot)).code, pilot.output()).toBe(0);
    expect(pilot.output()).toContain('"reason":"walltime"');
    expect(api.bodies('register')).toHaveLength(1);
    expect(api.bodies('claim')).toEqual([]);
    expect(await messageCount(queueUrl)).toBe(1);
  });

  it('exits with code 2 naming the option when an option is bad', async () => {
    const badCores = startPilot(['--cores', 'many']);
    expect((await exitOf(badCores)).code).toBe(2);
    expect(badCores.output()).toContain('--cores');

    const badWait = startPilot(['--poll-wait-sec', '30']);
    expect((await exitOf(badWait)).code).toBe(2);
    expect(badWait.output()).toContain('--poll-wait-sec');

    const missing = startPilot(['--token', 'x', '--site', SITE], { withDefaults: false });
    expect((await exitOf(missing)).code).toBe(2);
    expect(missing.output()).toContain('--api-url');

    const unknown = startPilot(['--no-such-option'], { withDefaults: false });
    expect((await exitOf(unknown)).code).toBe(2);
    expect(unknown.output()).toContain('--no-such-option');
    expect(api.requests).toEqual([]);
  });
});
