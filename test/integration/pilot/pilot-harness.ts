/**
 * A harness for running the real pilot against the fake API (fake-api.ts) and the SQS and S3 of
 * the integration tier's fauxqs: `usePilotHarness()` registers the hooks and returns the helpers.
 * The pilot runs either in this process (`runPilot`: a Pilot with the typed client, the real site
 * queue and storage, and the fake API's in-memory lease store through `openLeases`), or as the
 * `gluon-pilot run` process (`startPilot`; its lease is then in DynamoDB Local, shared with the
 * fake API: `usePilotHarness({ leases: 'dynamodb' })`). Every test gets its own site queue (with
 * a DLQ), fake API, work directory and payload marker; what a test leaves running is ended after it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CreateTableCommand, DynamoDBClient, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  type QueueAttributeName,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, beforeEach, inject } from 'vitest';
import { dynamoDbDocumentClient } from '#adapters/aws-clients.ts';
import { DynamoDbPilotLeaseStore } from '#adapters/dynamodb/dynamodb-pilot-lease-store.ts';
import { attributeDefinitions, TABLES } from '#adapters/dynamodb/tables.ts';
import { GluonClient } from '#client/gluon-client.ts';
import type { ClaimedJob } from '#core/api/pilots.ts';
import type { PilotLease } from '#core/pilots/pilot.ts';
import type { PilotLeaseStore } from '#core/pilots/ports.ts';
import { attemptLogKey, attemptPrefix } from '#core/storage/object-keys.ts';
import { awsEnvFor } from '#local/stand-ins.ts';
import { Pilot, type PilotDeps, type ResolvedPilotConfig } from '#pilot/pilot.ts';
import { S3Storage } from '#pilot/s3-storage.ts';
import { SqsSiteQueue } from '#pilot/sqs-site-queue.ts';
import { createLogger } from '#platform/logger.ts';
import { type FakeApi, startFakeApi } from './fake-api.ts';

export const REPO = resolve(import.meta.dirname, '../../..');
export const SITE = 'site-a';
export const BUCKET = 'gluon-pilot-test';
export const MAX_RECEIVE_COUNT = 3;

/** The pilot process. */
export interface RunningPilot {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
}

/** One renewal of the lease by an in-process pilot, as it wrote it. */
export interface Beat {
  state: string;
  at: number;
}

export interface StartOptions {
  /** Added to the pilot's environment (which is otherwise PATH, HOME, the token and the AWS settings). */
  env?: Record<string, string>;
  /** False: only `extraArgs` follow `run`. */
  withDefaults?: boolean;
  /** The gluon-pilot command (default `run`; `cloud` takes no run options: pass withDefaults false). */
  subcommand?: string;
  /** The pilot executable and its first arguments (default: this Node with pilot/main.ts). */
  command?: string[];
  /** Its working directory (default: the repository). */
  cwd?: string;
}

/** A pilot running in this process. */
export interface InProcessPilot {
  pilot: Pilot;
  /** Resolves to the exit code. */
  done: Promise<number>;
  /** Its log lines, parsed. */
  lines(): Array<Record<string, unknown>>;
  /** Its log, as text (for failure messages). */
  log(): string;
  /** The table names it opened leases with. */
  leaseTables: string[];
  /** Its lease renewals (heartbeats, and its last one as exited). */
  beats: Beat[];
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
  /** The lease of the last pilot registered (undefined before any registered). */
  lease(): Promise<PilotLease | undefined>;
  /**
   * Runs a Pilot in this process with the test defaults (fake API, site, work dir, 1 s polls,
   * 1 s kill grace, 2 cores, 4000 MB, 10000 MB disk, a day of walltime, no node checks).
   */
  runPilot(config?: Partial<ResolvedPilotConfig>, deps?: Partial<PilotDeps>): InProcessPilot;
  /**
   * Makes the in-process pilots' lease renewals wait until the returned function is called (as a
   * heartbeat that has not come round yet).
   */
  holdBeats(): () => void;
  /**
   * Starts `gluon-pilot run` with the test defaults (fake API, site, work dir, 1 s polls, 1 s kill
   * grace, 2 cores, 4000 MB, 10000 MB disk, load check relaxed) followed by `extraArgs`.
   */
  startPilot(extraArgs: string[], options?: StartOptions): RunningPilot;
  /** Waits for the pilot process to exit; fails with its output when it does not within the time given. */
  exitOf(
    pilot: RunningPilot,
    timeoutMs?: number,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Waits for the in-process pilot to end; fails with its log when it does not within the time given. */
  codeOf(pilot: InProcessPilot, timeoutMs?: number): Promise<number>;
  makeJob(taskId: string, jobIndex: number, overrides?: Partial<ClaimedJob>): ClaimedJob;
  /** Puts the job in the fake API and its message in the site queue. */
  queueJob(job: ClaimedJob): Promise<void>;
  sendJobMessage(taskId: string, jobIndex: number, attempt?: number): Promise<void>;
  sendRawMessage(body: string): Promise<void>;
  messageCount(url: string): Promise<number>;
  objectText(key: string): Promise<string>;
  objectBytes(key: string): Promise<Buffer>;
}

/** Polls `probe` until it gives a value (not undefined/false), or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
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

/** Settles with the promise, or fails naming `what` (and showing `detail()`) after `timeoutMs`. */
async function within<T>(
  promise: Promise<T>,
  timeoutMs: number,
  what: string,
  detail: () => string,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} did not happen in ${timeoutMs} ms:\n${detail()}`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
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

const CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

export function usePilotHarness(options: { leases?: 'memory' | 'dynamodb' } = {}): PilotHarness {
  let awsEnv: Record<string, string> = {};
  let dynamodb: DynamoDBClient | undefined;
  let leaseTable: string | undefined;
  let processes: ChildProcess[] = [];
  let inProcess: InProcessPilot[] = [];
  let beatGate: Promise<void> | undefined;
  const h = {} as PilotHarness;

  beforeAll(async () => {
    const endpoints = inject('awsEndpoints');
    awsEnv = awsEnvFor(endpoints);
    h.sqs = new SQSClient({ region: 'us-east-1', credentials: CREDENTIALS, endpoint: endpoints.sqs });
    h.s3 = new S3Client({
      region: 'us-east-1',
      credentials: CREDENTIALS,
      endpoint: endpoints.s3,
      forcePathStyle: true,
    });
    try {
      await h.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    } catch (error) {
      const name = (error as Error).name;
      if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw error;
    }
    if (options.leases === 'dynamodb') {
      dynamodb = new DynamoDBClient({
        region: 'us-east-1',
        credentials: CREDENTIALS,
        endpoint: endpoints.dynamodb,
      });
      leaseTable = `gluon-pilot-test-${randomBytes(4).toString('hex')}-leases`;
      await dynamodb.send(
        new CreateTableCommand({
          TableName: leaseTable,
          BillingMode: 'PAY_PER_REQUEST',
          KeySchema: [{ AttributeName: TABLES.leases.partitionKey.name, KeyType: 'HASH' }],
          AttributeDefinitions: attributeDefinitions(TABLES.leases),
        }),
      );
      await waitUntilTableExists({ client: dynamodb, maxWaitTime: 60 }, { TableName: leaseTable });
    }
  });

  afterAll(async () => {
    h.sqs?.destroy();
    h.s3?.destroy();
    dynamodb?.destroy();
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
    const leases: PilotLeaseStore | undefined =
      dynamodb === undefined || leaseTable === undefined
        ? undefined
        : new DynamoDbPilotLeaseStore(dynamoDbDocumentClient(dynamodb), leaseTable);
    h.api = await startFakeApi({
      queueUrl: h.queueUrl,
      bucket: BUCKET,
      siteId: SITE,
      ...(leases === undefined ? {} : { leases }),
    });
    h.workDir = mkdtempSync(join(tmpdir(), 'gluon-pilot-test-'));
    h.marker = randomUUID();
    beatGate = undefined;
  });

  afterEach(async () => {
    beatGate = undefined;
    for (const running of inProcess) {
      running.pilot.stop('the test is over');
      running.pilot.killPayloadNow();
      await within(running.done, 30_000, 'the end of a pilot left running', running.log).catch(() => {});
    }
    inProcess = [];
    for (const child of processes)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    processes = [];
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

  h.lease = async () => {
    const pilotId = h.api.pilotIds.at(-1);
    return pilotId === undefined ? undefined : h.api.leases.get(pilotId);
  };

  h.holdBeats = () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolveGate) => {
      release = resolveGate;
    });
    beatGate = gate;
    return () => {
      if (beatGate === gate) beatGate = undefined;
      release();
    };
  };

  h.runPilot = (config = {}, deps = {}) => {
    const text: string[] = [];
    const logger = createLogger({ level: 'debug', base: { siteId: SITE }, write: (line) => text.push(line) });
    const leaseTables: string[] = [];
    const beats: Beat[] = [];
    const resolved: ResolvedPilotConfig = {
      apiUrl: h.api.url,
      token: h.api.token,
      siteId: SITE,
      workDir: h.workDir,
      cores: 2,
      memoryMB: 4000,
      diskMB: 10_000,
      walltimeSec: 86_400,
      minJobWalltimeSec: 60,
      idleExitSec: 60,
      pollWaitSec: 1,
      jobsAtOnce: 1,
      host: 'wn01.example.org',
      tags: [],
      logLevel: 'debug',
      killGraceSec: 1,
      drainSec: 30,
      logCapMB: 50,
      logCapAction: 'kill',
      loopingSec: 7200,
      minFreeDiskMB: 0,
      minFreeDiskRunningMB: 0,
      maxLoadPerCore: 1000,
      maxClockSkewSec: 120,
      minTokenLifetimeSec: 0,
      requirePaths: [],
      credentials: 'environment',
      imdsEndpoint: 'http://169.254.169.254',
      imdsPollSec: 5,
      pilotsOnInstance: 1,
      ...config,
    };
    const api = new GluonClient({
      baseUrl: h.api.url,
      token: h.api.token,
      backoffMs: 20,
      maxBackoffMs: 100,
      timeoutMs: 10_000,
      logger,
    });
    const leases = h.api.leases;
    const pilot = new Pilot(resolved, {
      api,
      logger,
      openQueue: (queueUrl) => new SqsSiteQueue(h.sqs, queueUrl),
      openStorage: (bucket) => new S3Storage(h.s3, bucket, { logger }),
      openLeases: (tableName) => {
        leaseTables.push(tableName);
        return {
          renew: async (pilotId, change) => {
            await beatGate;
            beats.push({ state: change.state, at: Date.now() });
            return leases.renew(pilotId, change);
          },
        };
      },
      ...deps,
    });
    const lines = () =>
      text.map((line) => {
        try {
          return JSON.parse(line) as Record<string, unknown>;
        } catch {
          return { message: line };
        }
      });
    const running: InProcessPilot = {
      pilot,
      done: pilot.run(),
      lines,
      log: () => text.join(''),
      leaseTables,
      beats,
    };
    inProcess.push(running);
    return running;
  };

  h.startPilot = (extraArgs, startOptions = {}) => {
    const args =
      startOptions.withDefaults === false
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
    const [file, ...first] = startOptions.command ?? [process.execPath, 'pilot/main.ts'];
    const child = spawn(file as string, [...first, startOptions.subcommand ?? 'run', ...args], {
      cwd: startOptions.cwd ?? REPO,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? '/tmp',
        GLUON_PILOT_TOKEN: h.api.token,
        ...awsEnv,
        ...startOptions.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    processes.push(child);
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

  h.exitOf = (pilot, timeoutMs = 30_000) => within(pilot.exited, timeoutMs, 'the pilot’s exit', pilot.output);
  h.codeOf = (pilot, timeoutMs = 30_000) => within(pilot.done, timeoutMs, 'the pilot’s end', pilot.log);

  h.makeJob = (taskId, jobIndex, overrides = {}) => {
    const attempt = overrides.attempt ?? 1;
    return {
      taskId,
      jobId: `${taskId}.${jobIndex}`,
      jobIndex,
      attempt,
      payload: {
        command: 'sh',
        args: ['-c', 'echo hi > out.txt'],
        env: { TEST_MARKER: h.marker },
        sandbox: [],
      },
      resources: { cores: 1, memoryMB: 2000, walltimeSec: 60, diskMB: 100 },
      outputs: ['out.txt'],
      outputPrefix: attemptPrefix(taskId, jobIndex, attempt),
      logKey: attemptLogKey(taskId, jobIndex, attempt),
      ...overrides,
    };
  };

  h.sendRawMessage = async (body) => {
    await h.sqs.send(new SendMessageCommand({ QueueUrl: h.queueUrl, MessageBody: body }));
  };

  h.sendJobMessage = (taskId, jobIndex, attempt = 1) =>
    h.sendRawMessage(JSON.stringify({ v: 1, taskId, jobIndex, attempt, siteId: SITE, sentAt: Date.now() }));

  h.queueJob = async (job) => {
    h.api.jobs.set(`${job.taskId}.${job.jobIndex}`, job);
    await h.sendJobMessage(job.taskId, job.jobIndex, job.attempt);
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
