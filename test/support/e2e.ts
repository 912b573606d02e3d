/** Helpers for e2e tests: a small API client and condition polling against a running local stack. */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { S3Client } from '@aws-sdk/client-s3';
import {
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { GluonClient } from '#client/gluon-client.ts';
import type { JobView, PilotView, TaskView } from '#core/api/index.ts';
import { type LocalStack, type LocalStackOptions, startLocalStack } from '#local/stack.ts';
import type { TaskInputSpec } from './e2e-types.ts';

export interface ApiResponse<T = unknown> {
  status: number;
  body: T;
}

/** The e2e tests' view of the API: the typed client, plus shortcuts and raw requests for bad input. */
export class Api {
  readonly client: GluonClient;

  constructor(url: string, token: string | undefined) {
    this.client = new GluonClient({
      baseUrl: url,
      ...(token === undefined ? {} : { token }),
      retries: 2,
      backoffMs: 200,
    });
  }

  /** Sends anything, unchecked (bad bodies, other users' tokens). */
  async request<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    rawBody?: string,
  ): Promise<ApiResponse<T>> {
    const answer = await this.client.raw<T>(method, path, body, rawBody === undefined ? {} : { rawBody });
    return { status: answer.status, body: answer.body };
  }

  get<T = unknown>(path: string): Promise<ApiResponse<T>> {
    return this.request<T>('GET', path);
  }

  post<T = unknown>(path: string, body?: unknown): Promise<ApiResponse<T>> {
    return this.request<T>('POST', path, body);
  }

  async submit(spec: TaskInputSpec): Promise<string> {
    return (await this.client.call('submitTask', { body: spec })).taskId;
  }

  task(taskId: string): Promise<TaskView> {
    return this.client.call('getTask', { params: { taskId } });
  }

  /** Every job of a task, in index order (without their attempts). */
  async jobs(taskId: string): Promise<JobView[]> {
    return (await this.client.all('listJobs', { params: { taskId }, query: { limit: 1000 } })).sort(
      (a, b) => a.jobIndex - b.jobIndex,
    );
  }

  /** One job with all its attempts. */
  job(taskId: string, jobIndex: number): Promise<JobView> {
    return this.client.call('getJob', { params: { taskId, jobIndex } });
  }

  /** Every job with its attempts (small tasks). */
  async jobsWithAttempts(taskId: string): Promise<JobView[]> {
    const jobs = await this.jobs(taskId);
    return Promise.all(jobs.map((j) => this.job(taskId, j.jobIndex)));
  }

  pilots(): Promise<PilotView[]> {
    return this.client.all('listPilots', { query: { limit: 1000 } });
  }

  /** Waits until the task is final and returns it. */
  async finalTask(taskId: string, timeoutMs = 120_000): Promise<TaskView> {
    return waitFor(
      async () => {
        const task = await this.task(taskId);
        return ['done', 'partial', 'failed', 'cancelled'].includes(task.state) ? task : undefined;
      },
      { timeoutMs, what: `task ${taskId} to end` },
    );
  }
}

/** Polls `probe` until it returns a value other than undefined/false, or fails after the deadline. */
export async function waitFor<T>(
  probe: () => Promise<T | undefined | false>,
  options: { timeoutMs?: number; intervalMs?: number; what: string },
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out waiting for ${options.what}${last === undefined ? '' : `: ${String(last)}`}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 250));
  }
}

/** `gluon …` as the stack's user types it (execFile, not spawnSync: this process serves the API the CLI calls); its stdout. */
export async function gluonCli(
  stack: Pick<LocalStack, 'apiUrl' | 'userToken'>,
  ...args: string[]
): Promise<string> {
  const run = await promisify(execFile)(process.execPath, ['cli/main.ts', ...args], {
    env: { ...process.env, GLUON_API_URL: stack.apiUrl, GLUON_TOKEN: stack.userToken },
    encoding: 'utf8',
  });
  return run.stdout;
}

export function tempStateDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `gluon-e2e-${name}-`));
}

/** A local stack on free ports with a fresh state directory. */
export async function startTestStack(name: string, options: LocalStackOptions = {}): Promise<LocalStack> {
  return startLocalStack({
    stateDir: tempStateDir(name),
    apiPort: 0,
    dynamodbPort: 0,
    sqsPort: 0,
    sfnPort: 0,
    eventsPort: 0,
    log: () => undefined,
    ...options,
  });
}

export function sqsFor(stack: LocalStack): SQSClient {
  return new SQSClient({
    endpoint: stack.endpoints.sqs,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
}

/** An S3 client on the stack's S3 stand-in (path-style, as fauxqs serves it). */
export function s3For(stack: LocalStack): S3Client {
  return new S3Client({
    endpoint: stack.endpoints.s3,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
}

export async function queueUrl(sqs: SQSClient, name: string): Promise<string> {
  const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: name }));
  if (QueueUrl === undefined) throw new Error(`no queue ${name}`);
  return QueueUrl;
}

export async function queueDepth(
  sqs: SQSClient,
  url: string,
): Promise<{ visible: number; inFlight: number }> {
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return {
    visible: Number(Attributes?.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0),
  };
}

export async function sendRaw(sqs: SQSClient, url: string, body: string): Promise<void> {
  await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: body }));
}

/** A shell payload spec with sensible defaults for tests. */
export function shellTask(
  name: string,
  script: string,
  overrides: Partial<TaskInputSpec> = {},
): TaskInputSpec {
  return {
    name,
    payload: { command: 'sh', args: ['-c', script] },
    events: 1,
    split: { eventsPerJob: 1 },
    resources: { cores: 1, memoryMB: 256, walltimeSec: 120, diskMB: 100 },
    maxAttempts: 3,
    ...overrides,
  };
}
