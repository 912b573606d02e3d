import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RangeView } from '#core/api/event-ranges.ts';
import type { ErrorBody, TaskView } from '#core/api/index.ts';
import { LOCAL_BUCKET, type LocalStack } from '#local/stack.ts';
import {
  Api,
  queueDepth,
  queueUrl,
  s3For,
  sendRaw,
  sqsFor,
  startTestStack,
  tempStateDir,
  waitFor,
} from '#test/support/e2e.ts';
import type { TaskInputSpec } from '#test/support/e2e-types.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/event-service/', import.meta.url));

let stack: LocalStack;
let api: Api;
let sqs: SQSClient;
let s3: S3Client;

beforeAll(async () => {
  stack = await startTestStack('event-service', {
    pilots: 4,
    inMemory: true,
    leaseSec: 6,
    heartbeatSec: 1,
    reapEverySec: 1,
    rangeLeaseSec: 5,
    pilotIdleExitSec: 30,
  });
  api = new Api(stack.apiUrl, stack.userToken);
  sqs = sqsFor(stack);
  s3 = s3For(stack);
});

afterAll(async () => {
  s3?.destroy();
  await stack?.stop();
});

/** An event-service task of the test payload, merged by the test merge. */
function esTask(
  name: string,
  events: number,
  eventService: NonNullable<TaskInputSpec['eventService']>,
  env: Record<string, string> = {},
): TaskInputSpec {
  return {
    name,
    payload: { command: 'node', args: [join(FIXTURES, 'payload.mjs'), 'out.json'], env },
    events,
    eventService: {
      merge: { command: 'node', args: [join(FIXTURES, 'merge.mjs'), 'out.json', '${inputFiles}'] },
      ...eventService,
    },
    outputs: ['out.json'],
    resources: { cores: 1, memoryMB: 256, walltimeSec: 600, diskMB: 100 },
    maxAttempts: 3,
  };
}

async function ranges(taskId: string, state?: string): Promise<RangeView[]> {
  return api.client.all('listRanges', {
    params: { taskId },
    query: { limit: 1000, ...(state === undefined ? {} : { state: state as RangeView['state'] }) },
  });
}

async function objectText(key: string): Promise<string> {
  const out = await s3.send(new GetObjectCommand({ Bucket: LOCAL_BUCKET, Key: key }));
  return (await out.Body?.transformToString()) ?? '';
}

function sumOfEvents(n: number): number {
  return (n * (n - 1)) / 2;
}

describe('an event-service task through consumers that are killed with SIGKILL', () => {
  it('finishes every range exactly once, merges them all, and redoes only ranges in flight at the kills', async () => {
    const doneLog = join(tempStateDir('es-done'), 'done.log');
    writeFileSync(doneLog, '');
    const taskId = await api.submit(
      esTask(
        'es-kills',
        100_000,
        { rangeSize: 100, consumers: 4, mode: 'stream', rangesPerMessage: 5 },
        { ES_SLEEP_MS: '15', ES_DONE_LOG: doneLog },
      ),
    );
    const kills: number[] = [];
    /** Ranges in flight at each kill: in messages received by consumers and not yet deleted. */
    const inFlight: number[] = [];
    const rangeQueue = await waitFor(
      async () => queueUrl(sqs, `gluon-local-ranges-${taskId}`).catch(() => undefined),
      { what: 'the range queue' },
    );
    for (const threshold of [150, 400, 650]) {
      // A consumer running now on a pilot process still alive (not one killed before), killed at once.
      const killed = await waitFor(
        async () => {
          const task = await api.task(taskId);
          if ((task.ranges?.finished ?? 0) < threshold) return undefined;
          const alive = new Set(stack.factory.alive().map((p) => p.pid));
          const pilots = new Map((await api.pilots()).map((p) => [p.pilotId, p.pid]));
          const busy = (await api.jobs(taskId)).find(
            (j) => j.state === 'running' && alive.has(pilots.get(j.pilotId ?? '') ?? -1),
          );
          const pid = pilots.get(busy?.pilotId ?? '');
          if (pid === undefined) return undefined;
          const held = (await queueDepth(sqs, rangeQueue)).inFlight * 5;
          return stack.factory.kill(pid, 'SIGKILL') ? { pid, held } : undefined;
        },
        { timeoutMs: 120_000, what: `${threshold} finished ranges and a busy consumer to kill` },
      );
      kills.push(killed.pid);
      inFlight.push(killed.held);
    }
    const task = await api.finalTask(taskId, 240_000);
    expect(task.state).toBe('done');
    expect(task.ranges).toMatchObject({
      total: 1000,
      finished: 1000,
      fatal: 0,
      events: 100_000,
      eventsFinished: 100_000,
    });

    // Every range finished exactly once in the books, with its output.
    const all = await ranges(taskId);
    expect(all).toHaveLength(1000);
    expect(new Set(all.map((r) => r.rangeIndex)).size).toBe(1000);
    expect(all.every((r) => r.state === 'finished' && r.output !== undefined)).toBe(true);

    // The merged output holds every event once.
    expect(task.outputs).toHaveLength(1);
    const merged = JSON.parse(await objectText(task.outputs?.[0]?.key ?? '')) as Record<string, number>;
    expect(merged).toEqual({ entries: 100_000, sum: sumOfEvents(100_000), ranges: 1000 });

    // Work redone: ranges run more than once, no more than were in flight at the kills.
    const done = readFileSync(doneLog, 'utf8').trim().split('\n');
    const redone = done.length - new Set(done.map((line) => line.split(' ')[0])).size;
    expect(new Set(done.map((line) => line.split(' ')[0])).size).toBe(1000);
    const lost = inFlight.reduce((a, b) => a + b, 0);
    expect(
      redone,
      `${redone} redone after ${kills.length} kills, ${inFlight.join('+')} in flight`,
    ).toBeLessThanOrEqual(lost);
  });
});

describe('an event-service task whose payload fails on chosen ranges', () => {
  let task: TaskView;

  beforeAll(async () => {
    const taskId = await api.submit(
      esTask(
        'es-failing',
        5_000,
        { rangeSize: 100, consumers: 2, mode: 'stream', maxRangeAttempts: 2, stopAfterFailures: 20 },
        { ES_FAIL_MOD: '7', ES_FAIL_REM: '3' },
      ),
    );
    task = await api.finalTask(taskId, 180_000);
  });

  it('makes those ranges fatal after maxRangeAttempts, completes the rest, and ends partial', async () => {
    const chosen = Array.from({ length: 50 }, (_, i) => i).filter((i) => i % 7 === 3);
    expect(task.state).toBe('partial');
    expect(task.ranges).toMatchObject({ total: 50, finished: 50 - chosen.length, fatal: chosen.length });
    expect(task.reason).toContain(`${chosen.length} fatal`);
    const fatal = await ranges(task.taskId, 'fatal');
    expect(fatal.map((r) => r.rangeIndex).sort((a, b) => a - b)).toEqual(chosen);
    for (const r of fatal) {
      expect(r.attempt).toBe(2);
      expect(r.error).toContain('fails on purpose');
    }
    // The merge took the finished ranges only.
    const merged = JSON.parse(await objectText(task.outputs?.[0]?.key ?? '')) as Record<string, number>;
    expect(merged.ranges).toBe(50 - chosen.length);
    expect(merged.entries).toBe((50 - chosen.length) * 100);
  });

  it('lists the fatal ranges through the CLI', async () => {
    const { execFile } = await import('node:child_process');
    const { promisify } = await import('node:util');
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['cli/main.ts', 'ranges', task.taskId, '--state', 'fatal', '--json'],
      { env: { ...process.env, GLUON_API_URL: stack.apiUrl, GLUON_TOKEN: stack.userToken } },
    );
    const listed = JSON.parse(stdout) as RangeView[];
    expect(listed.map((r) => r.state)).toEqual(Array(listed.length).fill('fatal'));
    expect(listed).toHaveLength(task.ranges?.fatal ?? -1);
  });
});

describe('bad input to the event service', () => {
  it('rejects a spec whose rangeSize is larger than its events, naming the field', async () => {
    const answer = await api.post<ErrorBody>('/tasks', esTask('too-big', 50, { rangeSize: 100 }));
    expect(answer.status).toBe(400);
    expect(answer.body.error.issues?.map((i) => i.field)).toContain('eventService.rangeSize');
  });

  it('refuses a range report from a pilot that holds no consumer job of the task', async () => {
    const taskId = await api.submit(
      esTask('es-report', 1_000, { rangeSize: 100, consumers: 1, mode: 'stream' }),
    );
    await api.finalTask(taskId, 120_000);
    const pilotApi = new Api(stack.apiUrl, stack.pilotToken);
    const register = await pilotApi.post<{ pilotId: string }>('/pilots', {
      siteId: 'local',
      host: 'e2e',
      pid: 1,
      version: 'e2e',
      resources: { cores: 1, memoryMB: 1000, diskMB: 1000, walltimeLeftSec: 600 },
      health: [],
    });
    expect(register.status).toBe(200);
    const answer = await pilotApi.post<ErrorBody>(`/pilots/${register.body.pilotId}/ranges`, {
      taskId,
      jobIndex: 0,
      attempt: 1,
      ranges: [
        {
          rangeIndex: 0,
          attempt: 1,
          state: 'finished',
          firstEvent: 0,
          nEvents: 100,
          output: { key: 'tasks/x/out.json', bytes: 1, adler32: '00000001' },
        },
      ],
    });
    expect(answer.status).toBe(409);
    expect(answer.body.error.message).toContain('does not hold');
    // Nothing changed in the books.
    const task = await api.task(taskId);
    expect(task.ranges?.finished).toBe(10);
  });

  it('sends a malformed range message to the range DLQ, untouched', async () => {
    const taskId = await api.submit(
      esTask('es-malformed', 2_000, { rangeSize: 100, consumers: 1, mode: 'stream' }, { ES_SLEEP_MS: '300' }),
    );
    const url = await waitFor(
      async () => queueUrl(sqs, `gluon-local-ranges-${taskId}`).catch(() => undefined),
      {
        what: 'the range queue',
      },
    );
    const body = '{"v":1,"taskId":"t-bogus","ranges":[';
    await sendRaw(sqs, url, body);
    const dlq = await queueUrl(sqs, `gluon-local-ranges-${taskId}-dlq`);
    const received = await waitFor(
      async () => {
        const out = await sqs.send(
          new ReceiveMessageCommand({ QueueUrl: dlq, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
        );
        return out.Messages?.find((m) => m.Body === body);
      },
      { timeoutMs: 150_000, what: 'the malformed message in the range DLQ' },
    );
    expect(received.Body).toBe(body);
    const task = await api.finalTask(taskId, 180_000);
    expect(task.state).toBe('done');
    expect(task.ranges?.finished).toBe(20);
  });
});
