/** Helpers for e2e tests: a small API client and condition polling against a running local stack. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { JobView, TaskView } from '#core/api/contract.ts';
import { type LocalStack, type LocalStackOptions, startLocalStack } from '#local/stack.ts';
import type { TaskInputSpec } from './e2e-types.ts';

export interface ApiResponse<T = unknown> {
  status: number;
  body: T;
}

export class Api {
  readonly url: string;
  readonly token: string | undefined;
  constructor(url: string, token: string | undefined) {
    this.url = url;
    this.token = token;
  }

  async request<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    rawBody?: string,
  ): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
    const response = await fetch(`${this.url}${path}`, {
      method,
      headers,
      ...(rawBody !== undefined
        ? { body: rawBody }
        : body === undefined
          ? {}
          : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: (text === '' ? undefined : JSON.parse(text)) as T };
  }

  get<T = unknown>(path: string): Promise<ApiResponse<T>> {
    return this.request<T>('GET', path);
  }

  post<T = unknown>(path: string, body?: unknown): Promise<ApiResponse<T>> {
    return this.request<T>('POST', path, body);
  }

  async submit(spec: TaskInputSpec): Promise<string> {
    const response = await this.post<{ taskId: string }>('/tasks', spec);
    if (response.status !== 201)
      throw new Error(`submit failed: ${response.status} ${JSON.stringify(response.body)}`);
    return response.body.taskId;
  }

  async task(taskId: string): Promise<TaskView> {
    const response = await this.get<TaskView>(`/tasks/${taskId}`);
    if (response.status !== 200)
      throw new Error(`get task failed: ${response.status} ${JSON.stringify(response.body)}`);
    return response.body;
  }

  async jobs(taskId: string): Promise<JobView[]> {
    const jobs: JobView[] = [];
    let nextToken: string | undefined;
    do {
      const query = `?limit=100${nextToken === undefined ? '' : `&nextToken=${encodeURIComponent(nextToken)}`}`;
      const response = await this.get<{ jobs: JobView[]; nextToken?: string }>(
        `/tasks/${taskId}/jobs${query}`,
      );
      if (response.status !== 200) throw new Error(`list jobs failed: ${response.status}`);
      jobs.push(...response.body.jobs);
      nextToken = response.body.nextToken;
    } while (nextToken !== undefined);
    return jobs.sort((a, b) => a.jobIndex - b.jobIndex);
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
