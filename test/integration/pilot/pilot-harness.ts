/**
 * A harness for running the real pilot process (`node pilot/main.ts run …`) against the fake API
 * (fake-api.ts) and a real fauxqs for SQS and S3: `usePilotHarness()` registers the hooks that
 * start and stop them and returns the helpers. Every test gets its own site queue (with a DLQ),
 * fake API, work directory and payload marker; processes left over are killed after each test.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  type QueueAttributeName,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import type { ClaimedJob } from '#core/api/contract.ts';
import { awsEnvFor, freePort, type StandIn, startFauxqs } from '#local/stand-ins.ts';
import { type FakeApi, startFakeApi } from './fake-api.ts';

export const REPO = resolve(import.meta.dirname, '../../..');
export const SITE = 'site-a';
export const BUCKET = 'gluon-pilot-test';
export const MAX_RECEIVE_COUNT = 3;

export interface RunningPilot {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
}

export interface PilotHarness {
  sqs: SQSClient;
  s3: S3Client;
  api: FakeApi;
  queueUrl: string;
  dlqUrl: string;
  workDir: string;
  /** Set in the env of every test job's payload (TEST_MARKER), to find (and end) its processes. */
  marker: string;
  /**
   * Starts `gluon-pilot run` with the test defaults (fake API, site, work dir, 1 s polls, 1 s kill
   * grace, 2 cores, 4000 MB, 10000 MB disk, load check relaxed) followed by `extraArgs`.
   */
  startPilot(
    extraArgs: string[],
    options?: { env?: Record<string, string>; withDefaults?: boolean },
  ): RunningPilot;
  /** Waits for the pilot to exit; fails with its output when it does not within the time given. */
  exitOf(
    pilot: RunningPilot,
    timeoutMs?: number,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  makeJob(taskId: string, jobIndex: number, overrides?: Partial<ClaimedJob>): ClaimedJob;
  sendJobMessage(taskId: string, jobIndex: number): Promise<void>;
  messageCount(url: string): Promise<number>;
  objectText(key: string): Promise<string>;
  objectBytes(key: string): Promise<Buffer>;
}

/** Polls `probe` until it gives a value (not undefined/false), or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Pids whose environment holds TEST_MARKER=<value> (read straight from /proc). */
export function processesWithMarker(value: string): number[] {
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

export function newTaskId(): string {
  return `t-${randomUUID().replaceAll('-', '').slice(0, 16)}`;
}

export function usePilotHarness(): PilotHarness {
  let fauxqs: StandIn | undefined;
  let awsEnv: Record<string, string> = {};
  let pilots: ChildProcess[] = [];
  const h = {} as PilotHarness;

  beforeAll(async () => {
    fauxqs = await startFauxqs({ port: await freePort() });
    awsEnv = awsEnvFor({ dynamodb: 'http://127.0.0.1:9', sqs: fauxqs.endpoint, s3: fauxqs.endpoint });
    const clientConfig = {
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    };
    h.sqs = new SQSClient({ ...clientConfig, endpoint: fauxqs.endpoint });
    h.s3 = new S3Client({ ...clientConfig, endpoint: fauxqs.endpoint, forcePathStyle: true });
    await h.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  });

  afterAll(async () => {
    h.sqs?.destroy();
    h.s3?.destroy();
    await fauxqs?.stop();
  });

  beforeEach(async () => {
    const name = `site-a-${randomUUID().slice(0, 8)}`;
    const dlq = await h.sqs.send(new CreateQueueCommand({ QueueName: `${name}-dlq` }));
    h.dlqUrl = dlq.QueueUrl as string;
    const dlqArn = (
      await h.sqs.send(new GetQueueAttributesCommand({ QueueUrl: h.dlqUrl, AttributeNames: ['QueueArn'] }))
    ).Attributes?.QueueArn as string;
    const queue = await h.sqs.send(
      new CreateQueueCommand({
        QueueName: name,
        Attributes: {
          RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: MAX_RECEIVE_COUNT }),
        },
      }),
    );
    h.queueUrl = queue.QueueUrl as string;
    h.api = await startFakeApi({ queueUrl: h.queueUrl, bucket: BUCKET, siteId: SITE });
    h.workDir = mkdtempSync(join(tmpdir(), 'gluon-pilot-loop-'));
    h.marker = randomUUID();
  });

  afterEach(async () => {
    for (const pilot of pilots)
      if (pilot.exitCode === null && pilot.signalCode === null) pilot.kill('SIGKILL');
    pilots = [];
    for (const pid of processesWithMarker(h.marker)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await h.api.stop();
    rmSync(h.workDir, { recursive: true, force: true });
  });

  h.startPilot = (extraArgs, options = {}) => {
    const args =
      options.withDefaults === false
        ? extraArgs
        : [
            '--api-url',
            h.api.url,
            '--site',
            SITE,
            '--work-dir',
            h.workDir,
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
        GLUON_PILOT_TOKEN: h.api.token,
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
    return { child, exited, output: () => output };
  };

  h.exitOf = async (pilot, timeoutMs = 30_000) => {
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
  };

  h.makeJob = (taskId, jobIndex, overrides = {}) => ({
    taskId,
    jobId: `${taskId}.${jobIndex}`,
    jobIndex,
    attempt: 1,
    payload: {
      command: 'sh',
      args: ['-c', 'echo hi > out.txt'],
      env: { TEST_MARKER: h.marker },
      sandbox: [],
    },
    resources: { cores: 1, memoryMB: 2000, walltimeSec: 60, diskMB: 100 },
    outputs: ['out.txt'],
    outputPrefix: `tasks/${taskId}/jobs/${jobIndex}/attempt-1/`,
    leaseExpiresAt: Date.now() + 60_000,
    ...overrides,
  });

  h.sendJobMessage = async (taskId, jobIndex) => {
    const body = JSON.stringify({ v: 1, taskId, jobIndex, attempt: 1, siteId: SITE });
    await h.sqs.send(new SendMessageCommand({ QueueUrl: h.queueUrl, MessageBody: body }));
  };

  h.messageCount = async (url) => {
    const names: QueueAttributeName[] = [
      'ApproximateNumberOfMessages',
      'ApproximateNumberOfMessagesNotVisible',
      'ApproximateNumberOfMessagesDelayed',
    ];
    const { Attributes } = await h.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: names }),
    );
    return names.reduce((sum, name) => sum + Number(Attributes?.[name] ?? 0), 0);
  };

  h.objectBytes = async (key) => {
    const object = await h.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    return Buffer.from((await object.Body?.transformToByteArray()) ?? []);
  };
  h.objectText = async (key) => (await h.objectBytes(key)).toString('utf8');

  return h;
}
