/**
 * The event-service consumer (runConsumer) with real payload processes, a task's range queue and
 * the task bucket in fauxqs, and a fake of the API's reportRanges that keeps its own books (as
 * the real one: recorded / duplicate / stale, and `remaining` from its records).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  type QueueAttributeName,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import {
  type Consumer,
  type RangeReport,
  type ReportRangesRequest,
  ReportRangesRequestSchema,
  type ReportRangesResponse,
  ReportRangesResponseSchema,
} from '#core/api/event-ranges.ts';
import type { ClaimedJob } from '#core/api/pilots.ts';
import { type MessageRange, parseRangeMessage, type RangeMessage } from '#core/event-ranges/event-range.ts';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import { attemptLogKey, attemptPrefix, rangeOutputKey } from '#core/storage/object-keys.ts';
import { adler32 } from '#pilot/adler32.ts';
import { type ConsumerContext, runConsumer } from '#pilot/consumer/run-consumer.ts';
import { SqsRangeQueueClient } from '#pilot/consumer/sqs-range-queue-client.ts';
import { S3Storage } from '#pilot/s3-storage.ts';
import { createLogger } from '#platform/logger.ts';
import { runZmumu } from '../../../examples/zmumu/zmumu.mjs';
import { newTaskId, processesWithMarker, waitFor } from './pilot-harness.ts';

const BUCKET = 'gluon-consumer-test';
const PILOT_ID = 'p-consumer01';
const CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };
const ZMUMU = resolve(import.meta.dirname, '../../../examples/zmumu/zmumu.mjs');

/**
 * A stream-mode payload speaking the protocol: writes each range's output, answers ok, except
 * for the ranges in FAIL_RANGES (answers ok: false), DIE_RANGES (exits 3 mid-range) and
 * SLOW_RANGES (takes 30 s); notes each range it starts in STARTED_DIR.
 */
const STREAM_PAYLOAD = `
import { closeSync, constants, openSync, writeFileSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import { createInterface } from 'node:readline';
const list = (name) => new Set((process.env[name] ?? '').split(',').filter(Boolean).map(Number));
const fail = list('FAIL_RANGES');
const die = list('DIE_RANGES');
const slow = list('SLOW_RANGES');
const results = openSync(process.env.GLUON_RESULTS_FIFO, 'w');
const fd = openSync(process.env.GLUON_RANGES_FIFO, constants.O_RDONLY | constants.O_NONBLOCK);
const input = new Socket({ fd, readable: true, writable: false });
for await (const line of createInterface({ input })) {
  const r = JSON.parse(line);
  if (r.end) break;
  if (die.has(r.rangeIndex)) process.exit(3);
  if (process.env.STARTED_DIR) writeFileSync(process.env.STARTED_DIR + '/started.' + r.rangeIndex, '');
  if (slow.has(r.rangeIndex)) await new Promise((resolve) => setTimeout(resolve, 30000));
  if (fail.has(r.rangeIndex)) {
    writeSync(results, JSON.stringify({ rangeIndex: r.rangeIndex, ok: false, error: 'chosen to fail' }) + '\\n');
    continue;
  }
  console.log('range', r.rangeIndex);
  writeFileSync(r.output, 'range ' + r.rangeIndex + ' events ' + r.firstEvent + '-' + r.lastEvent + ' pid ' + process.pid + '\\n');
  writeSync(results, JSON.stringify({ rangeIndex: r.rangeIndex, ok: true }) + '\\n');
}
input.destroy();
closeSync(results);
`;

/** reportRanges as the API answers it, with its own books of the task's ranges. */
class FakeRangeApi {
  readonly calls: ReportRangesRequest[] = [];
  /** Every report of each range, in order. */
  readonly history = new Map<number, RangeReport[]>();
  private readonly records = new Map<number, { state: string; attempt: number }>();
  cancelled = false;
  total: number;
  maxRangeAttempts: number;

  constructor(total: number, maxRangeAttempts = 3) {
    this.total = total;
    this.maxRangeAttempts = maxRangeAttempts;
  }

  report(body: ReportRangesRequest): ReportRangesResponse {
    const request = ReportRangesRequestSchema.parse(body);
    this.calls.push(request);
    const outcomes = request.ranges.map((r) => {
      this.history.set(r.rangeIndex, [...(this.history.get(r.rangeIndex) ?? []), r]);
      return { rangeIndex: r.rangeIndex, ...this.apply(r) };
    });
    const final = [...this.records.values()].filter((r) => r.state === 'finished' || r.state === 'fatal');
    return ReportRangesResponseSchema.parse({
      outcomes,
      remaining: Math.max(0, this.total - final.length),
      cancelled: this.cancelled,
    });
  }

  private apply(r: RangeReport): { outcome: 'recorded' | 'duplicate' | 'stale'; state?: string } {
    const record = this.records.get(r.rangeIndex);
    const state = r.state === 'failed' && r.attempt >= this.maxRangeAttempts ? 'fatal' : (r.state as string);
    if (record !== undefined) {
      if (record.attempt > r.attempt) return { outcome: 'stale', state: record.state };
      if (record.attempt === r.attempt && record.state === state)
        return { outcome: 'duplicate', state: record.state };
      if (record.attempt === r.attempt && record.state !== 'running')
        return { outcome: 'stale', state: record.state };
    }
    this.records.set(r.rangeIndex, { state, attempt: r.attempt });
    return { outcome: 'recorded', state };
  }

  /** The states reported for a range, in order. */
  states(rangeIndex: number): string[] {
    return (this.history.get(rangeIndex) ?? []).map((r) => r.state);
  }

  reportsOf(state: RangeReport['state']): RangeReport[] {
    return [...this.history.values()].flat().filter((r) => r.state === state);
  }
}

let sqs: SQSClient;
let s3: S3Client;
let workRoot: string;
let scratch: string;
let marker: string;
let queueUrl: string;
let dlqUrl: string;
let logLines: string[];

beforeAll(async () => {
  const endpoints = inject('awsEndpoints');
  sqs = new SQSClient({ region: 'us-east-1', credentials: CREDENTIALS, endpoint: endpoints.sqs });
  s3 = new S3Client({
    region: 'us-east-1',
    credentials: CREDENTIALS,
    endpoint: endpoints.s3,
    forcePathStyle: true,
  });
  // Each test has its own task id, so the bucket may well exist from an earlier run.
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET })).catch((error: Error) => {
    if (!['BucketAlreadyOwnedByYou', 'BucketAlreadyExists'].includes(error.name)) throw error;
  });
});

afterAll(() => {
  sqs.destroy();
  s3.destroy();
});

beforeEach(() => {
  workRoot = mkdtempSync(join(tmpdir(), 'gluon-consumer-'));
  scratch = mkdtempSync(join(tmpdir(), 'gluon-consumer-scratch-'));
  writeFileSync(join(scratch, 'stream-payload.mjs'), STREAM_PAYLOAD);
  marker = randomUUID();
  logLines = [];
});

afterEach((context) => {
  for (const pid of processesWithMarker(marker)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  if (context.task.result?.state === 'fail') process.stderr.write(logLines.join(''));
  rmSync(workRoot, { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
});

/** A range queue with its DLQ; `leaseSec` is its visibility timeout. */
async function makeQueue(leaseSec: number, maxReceiveCount = 5): Promise<void> {
  const name = `ranges-${randomUUID().slice(0, 8)}`;
  dlqUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `${name}-dlq` }))).QueueUrl as string;
  const dlqArn = (
    await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }))
  ).Attributes?.QueueArn as string;
  queueUrl = (
    await sqs.send(
      new CreateQueueCommand({
        QueueName: name,
        Attributes: {
          VisibilityTimeout: String(leaseSec),
          RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount }),
        },
      }),
    )
  ).QueueUrl as string;
}

/**
 * A fresh range queue (lease `leaseSec`, default 30 s) holding `count` ranges of a new task of
 * `size` events each, `perMessage` ranges a message, and the API's books of them.
 */
async function queuedRanges(
  count: number,
  perMessage: number,
  options: { leaseSec?: number; size?: number; maxRangeAttempts?: number } = {},
): Promise<{ taskId: string; api: FakeRangeApi }> {
  await makeQueue(options.leaseSec ?? 30);
  const taskId = newTaskId();
  await sendRanges(taskId, count, perMessage, options.size);
  return { taskId, api: new FakeRangeApi(count, options.maxRangeAttempts) };
}

/** Messages of consecutive generated ranges of `size` events, `perMessage` ranges each. */
async function sendRanges(taskId: string, count: number, perMessage: number, size = 10): Promise<void> {
  for (let i = 0; i < count; i += perMessage) {
    const ranges: MessageRange[] = [];
    for (let j = i; j < Math.min(count, i + perMessage); j++)
      ranges.push({ i: j, a: 1, first: j * size, n: size });
    await sendBody(JSON.stringify({ v: 1, taskId, ranges } satisfies RangeMessage));
  }
}

async function sendBody(body: string): Promise<void> {
  await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body }));
}

async function messageCount(url: string): Promise<number> {
  const names: QueueAttributeName[] = [
    'ApproximateNumberOfMessages',
    'ApproximateNumberOfMessagesNotVisible',
  ];
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: names }),
  );
  return names.reduce((sum, name) => sum + Number(Attributes?.[name] ?? 0), 0);
}

/** The range indexes of the messages visible in the queue now (received, and so hidden for a while). */
async function visibleRanges(): Promise<number[]> {
  const indexes: number[] = [];
  for (;;) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
    );
    if (Messages.length === 0) return indexes.sort((a, b) => a - b);
    for (const m of Messages) indexes.push(...parseRangeMessage(m.Body ?? '').ranges.map((r) => r.i));
  }
}

async function objectText(key: string): Promise<string> {
  const object = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return (await object.Body?.transformToString('utf8')) ?? '';
}

function makeJob(
  taskId: string,
  payload: Pick<ClaimedJob['payload'], 'command' | 'args'> & { env?: Record<string, string> },
  consumer: Partial<Consumer> = {},
): ClaimedJob {
  return {
    taskId,
    jobId: `${taskId}.0`,
    jobIndex: 0,
    attempt: 1,
    payload: { sandbox: [], ...payload, env: { TEST_MARKER: marker, ...payload.env } },
    resources: { cores: 1, memoryMB: 2000, walltimeSec: 600, diskMB: 100 },
    outputs: ['out.txt'],
    outputPrefix: attemptPrefix(taskId, 0, 1),
    logKey: attemptLogKey(taskId, 0, 1),
    consumer: {
      rangeQueueUrl: queueUrl,
      mode: 'process-per-range',
      maxRangeAttempts: 3,
      stopAfterFailures: 3,
      rangeLeaseSec: 30,
      output: 'out.txt',
      outputPrefix: `tasks/${taskId}/ranges/`,
      ...consumer,
    },
  };
}

/** A stream-mode consumer of the protocol-speaking test payload; `env` chooses how it misbehaves. */
function streamJob(taskId: string, env: Record<string, string> = {}): ClaimedJob {
  return makeJob(
    taskId,
    { command: process.execPath, args: [join(scratch, 'stream-payload.mjs')], env },
    { mode: 'stream' },
  );
}

function context(api: FakeRangeApi, overrides: Partial<ConsumerContext> = {}): ConsumerContext {
  const logger = createLogger({ level: 'debug', write: (line) => logLines.push(line) });
  return {
    storage: new S3Storage(s3, BUCKET, { retries: 1, backoffMs: 10 }),
    workRoot,
    host: 'wn01.example.org',
    pilotId: PILOT_ID,
    siteId: 'site-a',
    killGraceMs: 1000,
    logCapBytes: 2 ** 20,
    pollMs: 200,
    logger,
    signal: new AbortController().signal,
    queue: new SqsRangeQueueClient(sqs, queueUrl),
    reportRanges: async (body) => api.report(body),
    walltimeLeftSec: () => 86_400,
    ...overrides,
  };
}

/** Runs the consumer and aborts it with `code` once range `rangeIndex` started (its payload notes it in scratch). */
async function abortedAt(job: ClaimedJob, api: FakeRangeApi, rangeIndex: number, code: number) {
  const abort = new AbortController();
  const running = runConsumer(job, context(api, { signal: abort.signal }));
  await waitFor(`range ${rangeIndex} to start`, () => readdirSync(scratch).includes(`started.${rangeIndex}`));
  abort.abort(code);
  return running;
}

/** Each range finished exactly once, its output stored under its key with the size and adler32 reported. */
async function expectFinishedOnce(api: FakeRangeApi, taskId: string, indexes: number[]): Promise<string[]> {
  const texts: string[] = [];
  for (const i of indexes) {
    const finished = (api.history.get(i) ?? []).filter((r) => r.state === 'finished');
    expect(finished, `range ${i}`).toHaveLength(1);
    const output = finished[0]?.output;
    expect(output?.key).toBe(rangeOutputKey(taskId, i, PILOT_ID, 1, 'out.txt'));
    const text = await objectText(output?.key ?? '');
    expect(output).toEqual({ key: output?.key, bytes: Buffer.byteLength(text), adler32: adler32(text) });
    texts.push(text);
  }
  return texts;
}

const SH_RANGE =
  'echo "range $GLUON_RANGE_INDEX events ${firstEvent}+${nEvents}"; echo "${rangeIndex}:${firstEvent}:${nEvents}" > out.txt';

describe('runConsumer, process-per-range', () => {
  it('runs every range once and uploads each output with its adler32, then deletes the messages and ends finished', async () => {
    const { taskId, api } = await queuedRanges(6, 3);
    const job = makeJob(taskId, { command: 'sh', args: ['-c', SH_RANGE] });

    const report = await runConsumer(job, context(api));

    expect(report).toMatchObject({ pilotErrorCode: PILOT_ERROR_CODES.OK, taskId, jobIndex: 0, attempt: 1 });
    const texts = await expectFinishedOnce(api, taskId, [0, 1, 2, 3, 4, 5]);
    expect(texts).toEqual([0, 1, 2, 3, 4, 5].map((i) => `${i}:${i * 10}:10\n`));
    expect(api.reportsOf('failed')).toEqual([]);
    expect(api.calls.length).toBeLessThan(6);
    expect(await messageCount(queueUrl)).toBe(0);
    expect(report.usage.wallTimeSec).toBeGreaterThan(0);
    const log = await objectText(job.logKey);
    expect(report.log).toMatchObject({
      key: job.logKey,
      bytes: Buffer.byteLength(log),
      adler32: adler32(log),
    });
    expect(log).toContain('range 3 events 30+10');
    expect(log).toMatch(/# range 5 \(events 50-59, attempt 1\): finished in \d+\.\d{3} s/);
    expect(log).toContain('# 6 ranges finished, 0 failed, 0 handed back');
    expect(readdirSync(workRoot)).toEqual([]);
  });

  it('stages a file range’s input in once per file, for the next ranges of the same file', async () => {
    await makeQueue(30);
    const taskId = newTaskId();
    const files = [`inputs/${taskId}/a.txt`, `inputs/${taskId}/b.txt`];
    for (const key of files) {
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: `content of ${key}\n` }));
    }
    const ranges: MessageRange[] = [
      { i: 0, a: 1, first: 0, n: 5, file: files[0] },
      { i: 1, a: 1, first: 5, n: 5, file: files[0] },
      { i: 2, a: 1, first: 0, n: 5, file: files[1] },
    ];
    await sendBody(JSON.stringify({ v: 1, taskId, ranges }));
    const api = new FakeRangeApi(3);
    const downloads: string[] = [];
    const storage = new S3Storage(s3, BUCKET);
    const download = storage.downloadFile.bind(storage);
    storage.downloadFile = (key, path, expected, bucket) => {
      downloads.push(key);
      return download(key, path, expected, bucket);
    };
    const job = makeJob(taskId, {
      command: 'sh',
      args: ['-c', 'cat "${inputFiles}" > out.txt; echo ${firstEvent} >> out.txt'],
    });

    const report = await runConsumer(job, context(api, { storage }));

    expect(report.pilotErrorCode).toBe(PILOT_ERROR_CODES.OK);
    expect(downloads).toEqual(files);
    const texts = await expectFinishedOnce(api, taskId, [0, 1, 2]);
    expect(texts).toEqual([
      `content of ${files[0]}\n0\n`,
      `content of ${files[0]}\n5\n`,
      `content of ${files[1]}\n0\n`,
    ]);
    expect(api.history.get(0)?.[0]).toMatchObject({ file: files[0], firstEvent: 0, nEvents: 5 });
  });

  it('reports the ranges its payload fails on as failed (1001) and the others finished', async () => {
    const { taskId, api } = await queuedRanges(6, 3, { maxRangeAttempts: 1 });
    const job = makeJob(taskId, {
      command: 'sh',
      args: ['-c', 'case $GLUON_RANGE_INDEX in 1|4) echo "bad range" >&2; exit 7;; esac; echo ok > out.txt'],
    });

    const report = await runConsumer(job, context(api));

    expect(report.pilotErrorCode).toBe(PILOT_ERROR_CODES.OK);
    expect(api.reportsOf('failed').map((r) => [r.rangeIndex, r.errorCode])).toEqual([
      [1, 1001],
      [4, 1001],
    ]);
    expect(api.reportsOf('failed')[0]?.error).toMatch(/exit/i);
    await expectFinishedOnce(api, taskId, [0, 2, 3, 5]);
    expect(await messageCount(queueUrl)).toBe(0);
  });

  it('stops after stopAfterFailures failures in a row (1105) and hands the rest of its ranges back', async () => {
    const { taskId, api } = await queuedRanges(6, 3);
    const job = makeJob(taskId, { command: 'sh', args: ['-c', 'exit 1'] }, { stopAfterFailures: 2 });

    const report = await runConsumer(job, context(api));

    expect(report.pilotErrorCode).toBe(PILOT_ERROR_CODES.RANGES_FAILING);
    expect(report.errorMessage).toMatch(/failed on 2 ranges in a row/);
    const failed = api.reportsOf('failed');
    expect(failed.map((r) => r.errorCode)).toEqual([1001, 1001]);
    const back = await visibleRanges();
    expect([...back, ...failed.map((r) => r.rangeIndex)].sort()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(back).toHaveLength(4);
  });

  it('reports running for a range that outlives a lease extension, and keeps its message hidden meanwhile', async () => {
    const { taskId, api } = await queuedRanges(3, 3, { leaseSec: 3 });
    const starts = join(scratch, 'starts');
    const job = makeJob(
      taskId,
      {
        command: 'sh',
        args: [
          '-c',
          `echo $GLUON_RANGE_INDEX >> ${starts}; [ $GLUON_RANGE_INDEX = 1 ] && sleep 4.5; echo ok > out.txt`,
        ],
      },
      { rangeLeaseSec: 3 },
    );

    const report = await runConsumer(job, context(api));

    expect(report.pilotErrorCode).toBe(PILOT_ERROR_CODES.OK);
    expect(api.states(1)).toEqual(['running', 'finished']);
    expect(api.states(0)).toEqual(['finished']);
    expect(api.states(2)).toEqual(['finished']);
    expect(readFileSync(starts, 'utf8')).toBe('0\n1\n2\n');
  });

  it('hands back the unstarted ranges when aborted mid-run, without reporting the one in flight finished', async () => {
    const { taskId, api } = await queuedRanges(6, 3);
    const started = join(scratch, 'started');
    const job = makeJob(taskId, {
      command: 'sh',
      args: [
        '-c',
        `touch ${started}.$GLUON_RANGE_INDEX; [ $GLUON_RANGE_INDEX = 1 ] && sleep 30; echo ok > out.txt`,
      ],
    });

    const report = await abortedAt(job, api, 1, PILOT_ERROR_CODES.EVICTED);

    expect(report.pilotErrorCode).toBe(PILOT_ERROR_CODES.EVICTED);
    expect(api.states(1)).toEqual([]);
    const finished = api.reportsOf('finished').map((r) => r.rangeIndex);
    expect(finished).toContain(0);
    const back = await visibleRanges();
    expect(back).toContain(1);
    expect([...back, ...finished].sort()).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('stops at once with 1306 and hands everything back when the walltime left is short', async () => {
    const { taskId, api } = await queuedRanges(3, 3);
    const job = makeJob(taskId, { command: 'sh', args: ['-c', 'echo ok > out.txt'] });

    const report = await runConsumer(job, context(api, { walltimeLeftSec: () => 20 }));

    expect(report.pilotErrorCode).toBe(PILOT_ERROR_CODES.CONSUMER_STOPPED);
    expect(report.errorMessage).toMatch(/walltime running short/);
    expect(api.calls).toEqual([]);
    expect(await visibleRanges()).toEqual([0, 1, 2]);
  });

  it('stops with 1401 when a report answers that the task was cancelled', async () => {
    const { taskId, api } = await queuedRanges(3, 3);
    api.cancelled = true;
    const job = makeJob(taskId, { command: 'sh', args: ['-c', 'echo ok > out.txt'] });

    const report = await runConsumer(job, context(api));

    expect(report.pilotErrorCode).toBe(PILOT_ERROR_CODES.CANCELLED);
    expect(api.calls.length).toBeLessThanOrEqual(2);
  });
});

describe('runConsumer, messages', () => {
  it('ends finished without running anything when the queue is empty and no range remains', async () => {
    await makeQueue(30);
    const api = new FakeRangeApi(0);
    const job = makeJob(newTaskId(), { command: 'sh', args: ['-c', 'exit 1'] });

    const report = await runConsumer(job, context(api));

    expect(report.pilotErrorCode).toBe(PILOT_ERROR_CODES.OK);
    expect(api.calls.map((c) => c.ranges)).toEqual([[]]);
    expect(report.usage).toEqual({ wallTimeSec: 0, cpuTimeSec: 0, maxRssKB: 0 });
  });

  it('never deletes a malformed message: it stays for the dead-letter queue', async () => {
    await makeQueue(30, 2);
    const taskId = newTaskId();
    await sendBody('{"v":1,"taskId":"not a message"');
    await sendRanges(taskId, 2, 2);
    const api = new FakeRangeApi(2);
    const job = makeJob(taskId, { command: 'sh', args: ['-c', 'echo ok > out.txt'] });

    const report = await runConsumer(job, context(api));

    expect(report.pilotErrorCode).toBe(PILOT_ERROR_CODES.OK);
    await expectFinishedOnce(api, taskId, [0, 1]);
    expect((await messageCount(queueUrl)) + (await messageCount(dlqUrl))).toBe(1);
    expect(logLines.join('')).toContain('malformed range message');
  });

  it('reports the ranges of a message received too often failed (1304) without running them', async () => {
    await makeQueue(30, 20);
    const taskId = newTaskId();
    await sendRanges(taskId, 2, 2);
    // Received (and its lease lost) five times: more than maxRangeAttempts + 2 with the next receive.
    for (let i = 0; i < 5; i++) {
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 1, VisibilityTimeout: 0 }),
      );
      expect(Messages).toHaveLength(1);
    }
    const api = new FakeRangeApi(2, 1);
    const job = makeJob(
      taskId,
      { command: 'sh', args: ['-c', 'echo ok > out.txt'] },
      { maxRangeAttempts: 3 },
    );

    const report = await runConsumer(job, context(api));

    expect(report.pilotErrorCode).toBe(PILOT_ERROR_CODES.OK);
    expect(api.reportsOf('failed').map((r) => [r.rangeIndex, r.errorCode])).toEqual([
      [0, 1304],
      [1, 1304],
    ]);
    expect(api.reportsOf('finished')).toEqual([]);
    expect(await messageCount(queueUrl)).toBe(0);
  });
});

describe('runConsumer, stream', () => {
  it('feeds every range to one payload process, uploads each output, batches the reports and deletes the messages', async () => {
    const { taskId, api } = await queuedRanges(25, 10);
    const job = streamJob(taskId);

    const report = await runConsumer(job, context(api));

    expect(report.pilotErrorCode).toBe(PILOT_ERROR_CODES.OK);
    const texts = await expectFinishedOnce(
      api,
      taskId,
      Array.from({ length: 25 }, (_, i) => i),
    );
    expect(texts[7]).toMatch(/^range 7 events 70-79 pid \d+\n$/);
    expect(new Set(texts.map((t) => t.split(' pid ')[1])).size).toBe(1);
    expect(api.calls.length).toBeLessThan(25);
    expect(await messageCount(queueUrl)).toBe(0);
    expect(report.usage.cpuTimeSec).toBeGreaterThan(0);
    const log = await objectText(job.logKey);
    expect(log).toContain('range 24\n');
    expect(log).toMatch(/# payload process ended: 0, exit code 0/);
  });

  it('fails the ranges the payload answers not ok (1001) and a range it dies in, and starts it again for the next', async () => {
    const { taskId, api } = await queuedRanges(8, 8, { maxRangeAttempts: 1 });
    const job = streamJob(taskId, { FAIL_RANGES: '2', DIE_RANGES: '5' });

    const report = await runConsumer(job, context(api));

    expect(report.pilotErrorCode).toBe(PILOT_ERROR_CODES.OK);
    const failed = api.reportsOf('failed');
    expect(failed.map((r) => [r.rangeIndex, r.errorCode])).toEqual([
      [2, 1001],
      [5, 1001],
    ]);
    expect(failed[0]?.error).toBe('chosen to fail');
    expect(failed[1]?.error).toMatch(/ended with range 5 in flight/);
    const texts = await expectFinishedOnce(api, taskId, [0, 1, 3, 4, 6, 7]);
    const pids = texts.map((t) => t.split(' pid ')[1]);
    expect(pids[3]).not.toBe(pids[4]);
    expect(new Set(pids).size).toBe(2);
  });

  it('kills the payload when aborted, reports what is done and hands back the rest, the range in flight included', async () => {
    const { taskId, api } = await queuedRanges(6, 6);
    const job = streamJob(taskId, { SLOW_RANGES: '2', STARTED_DIR: scratch });

    const report = await abortedAt(job, api, 2, PILOT_ERROR_CODES.LEASE_LOST);

    expect(report.pilotErrorCode).toBe(PILOT_ERROR_CODES.LEASE_LOST);
    await expectFinishedOnce(api, taskId, [0, 1]);
    expect(api.states(2)).toEqual([]);
    expect(await visibleRanges()).toEqual([2, 3, 4, 5]);
    expect(processesWithMarker(marker)).toEqual([]);
  });

  it('runs zmumu.mjs in stream mode: each range’s histogram is the one its events give', async () => {
    const { taskId, api } = await queuedRanges(4, 2, { size: 200 });
    const job = makeJob(
      taskId,
      { command: process.execPath, args: [ZMUMU] },
      { mode: 'stream', output: 'histogram.json' },
    );

    const report = await runConsumer(job, context(api));

    expect(report.pilotErrorCode).toBe(PILOT_ERROR_CODES.OK);
    for (const i of [0, 1, 2, 3]) {
      const [finished] = api.reportsOf('finished').filter((r) => r.rangeIndex === i);
      expect(finished?.output?.key).toBe(rangeOutputKey(taskId, i, PILOT_ID, 1, 'histogram.json'));
      const text = await objectText(finished?.output?.key ?? '');
      expect(finished?.output?.adler32).toBe(adler32(text));
      expect(JSON.parse(text)).toEqual(runZmumu({ firstEvent: i * 200, nEvents: 200 }));
    }
    expect(await objectText(job.logKey)).toMatch(/zmumu: range 3, events 600-799: \d+ entries/);
  });
});
