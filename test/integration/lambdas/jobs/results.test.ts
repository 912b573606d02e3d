import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCOPES } from '#core/api/common.ts';
import type { JobLogResponse, JobOutputResponse, TaskOutputsResponse } from '#core/api/results.ts';
import { createHandler as getJobLogHandler } from '#lambdas/jobs/get-job-log/handler.ts';
import { createHandler as getJobOutputHandler } from '#lambdas/jobs/get-job-output/handler.ts';
import { createHandler as listTaskOutputsHandler } from '#lambdas/jobs/list-task-outputs/handler.ts';
import {
  createHandlerHarness,
  type HandlerHarness,
  httpEvent,
  invokeHttp,
  issueFields,
} from '#test/support/handler-harness.ts';
import {
  type ErrorReply,
  FAILED,
  generationSpec,
  nth,
  refOf,
  registerPilot,
  report,
  runAttempt,
  runningTask,
  USER_SCOPES,
} from '../task-flow.ts';

let h: HandlerHarness;
let taskId: string;
const LOG_1 = 'attempt 1: boom on stderr\n';
const LOG_2 = 'attempt 2: all good\n';
const EVENTS = Buffer.from('events of job 0, attempt 2');

beforeAll(async () => {
  h = await createHandlerHarness();
  const pilotId = await registerPilot(h);
  const running = await runningTask(h, generationSpec(2, { maxAttempts: 3 }));
  taskId = running.taskId;
  // Job 0 fails once, then finishes; job 1 never runs. The objects are where the reports say.
  const first = refOf(nth(running.messages, 0));
  await runAttempt(h, pilotId, first, FAILED);
  await h.settleJobChanges();
  await runAttempt(h, pilotId, { ...first, attempt: 2 });
  await h.settleJobChanges();
  for (const [attempt, body] of [
    [1, LOG_1],
    [2, LOG_2],
  ] as const) {
    const log = report({ ...first, attempt }).log;
    await h.s3.send(new PutObjectCommand({ Bucket: h.bucket, Key: log?.key, Body: body }));
  }
  const output = report({ ...first, attempt: 2 }).outputs?.[0];
  await h.s3.send(new PutObjectCommand({ Bucket: h.bucket, Key: output?.key, Body: EVENTS }));
});

afterAll(async () => {
  await h?.close();
});

interface Call {
  sub?: string | null;
  scopes?: string[];
  taskId?: string;
  query?: Record<string, string>;
}

function getLog(jobIndex: string, call: Call = {}) {
  return invokeHttp<JobLogResponse & ErrorReply>(
    getJobLogHandler(h.deps),
    httpEvent({
      method: 'GET',
      path: '/tasks/{taskId}/jobs/{jobIndex}/log',
      pathParameters: { taskId: call.taskId ?? taskId, jobIndex },
      ...(call.query === undefined ? {} : { query: call.query }),
      sub: call.sub,
      scopes: call.scopes ?? USER_SCOPES,
    }),
  );
}

function getOutput(jobIndex: string, name: string, call: Call = {}) {
  return invokeHttp<JobOutputResponse & ErrorReply>(
    getJobOutputHandler(h.deps),
    httpEvent({
      method: 'GET',
      path: '/tasks/{taskId}/jobs/{jobIndex}/outputs/{name}',
      pathParameters: { taskId: call.taskId ?? taskId, jobIndex, name },
      sub: call.sub,
      scopes: call.scopes ?? USER_SCOPES,
    }),
  );
}

function listOutputs(call: Call = {}) {
  return invokeHttp<TaskOutputsResponse & ErrorReply>(
    listTaskOutputsHandler(h.deps),
    httpEvent({
      method: 'GET',
      path: '/tasks/{taskId}/outputs',
      pathParameters: { taskId: call.taskId ?? taskId },
      ...(call.query === undefined ? {} : { query: call.query }),
      sub: call.sub,
      scopes: call.scopes ?? USER_SCOPES,
    }),
  );
}

async function download(url: string, init: RequestInit = {}): Promise<{ status: number; text: string }> {
  const answer = await fetch(url, init);
  return { status: answer.status, text: await answer.text() };
}

describe('get-job-log handler', () => {
  it("answers a presigned URL of the last ended attempt's log, which downloads it", async () => {
    const reply = await getLog('0');
    expect(reply.statusCode).toBe(200);
    expect(reply.body).toEqual({
      taskId,
      index: 0,
      attempt: 2,
      url: expect.stringContaining(`/${h.bucket}/tasks/${taskId}/jobs/0/attempt-2/attempt.log?`),
      expiresInSec: 3600,
    });
    expect(new URL(reply.body.url).hostname).toBe('127.0.0.1');
    expect(await download(reply.body.url)).toEqual({ status: 200, text: LOG_2 });
  });

  it('answers the log of the attempt asked for', async () => {
    const reply = await getLog('0', { query: { attempt: '1' } });
    expect(reply.body.attempt).toBe(1);
    expect(await download(reply.body.url)).toEqual({ status: 200, text: LOG_1 });
  });

  it('answers 404 naming the missing job or attempt', async () => {
    const none = await getLog('1');
    expect(none.statusCode).toBe(404);
    expect(none.body.error.message).toBe(`job ${taskId}.1 has no log yet: no attempt of it has ended`);
    const attempt = await getLog('0', { query: { attempt: '7' } });
    expect(attempt.statusCode).toBe(404);
    expect(attempt.body.error.message).toBe(`attempt 7 of job ${taskId}.0 not found (or not ended yet)`);
    const past = await getLog('2');
    expect(past.body.error).toEqual({ code: 'NOT_FOUND', message: `job ${taskId}.2 not found` });
  });

  it("answers 404 to another user's task, as GET /tasks/{id} does; an operator gets the URL", async () => {
    const other = await getLog('0', { sub: 'mallory' });
    expect(other.statusCode).toBe(404);
    expect(other.body.error).toEqual({ code: 'NOT_FOUND', message: `task ${taskId} not found` });
    expect(other.body).not.toHaveProperty('url');
    const operator = await getLog('0', { sub: 'operator', scopes: [SCOPES.admin] });
    expect(operator.statusCode).toBe(200);
  });

  it('answers 400 naming a bad job index or attempt', async () => {
    for (const bad of ['x', '-1', '1.5']) {
      const reply = await getLog(bad);
      expect(reply.statusCode, bad).toBe(400);
      expect(issueFields(reply.body)).toEqual(['path.jobIndex']);
    }
    for (const bad of ['0', 'two', '1.5']) {
      const reply = await getLog('0', { query: { attempt: bad } });
      expect(reply.statusCode, bad).toBe(400);
      expect(issueFields(reply.body)).toEqual(['query.attempt']);
    }
  });
});

describe('get-job-output handler', () => {
  it('answers a presigned URL with size and adler32; the URL downloads it, ranges too', async () => {
    const reply = await getOutput('0', 'events.root');
    expect(reply.statusCode).toBe(200);
    expect(reply.body).toEqual({
      taskId,
      index: 0,
      name: 'events.root',
      url: expect.stringContaining(`/${h.bucket}/tasks/${taskId}/jobs/0/attempt-2/events.root?`),
      sizeBytes: 1234,
      adler32: '0a1b2c3d',
      expiresInSec: 3600,
    });
    expect(await download(reply.body.url)).toEqual({ status: 200, text: EVENTS.toString() });
    expect(await download(reply.body.url, { headers: { range: 'bytes=7-' } })).toEqual({
      status: 206,
      text: EVENTS.subarray(7).toString(),
    });
  });

  it("answers 404 naming the missing output, and to another user's task", async () => {
    const missing = await getOutput('0', 'nope.root');
    expect(missing.statusCode).toBe(404);
    expect(missing.body.error.message).toBe(`output nope.root of job ${taskId}.0 not found`);
    const other = await getOutput('0', 'events.root', { sub: 'mallory' });
    expect(other.statusCode).toBe(404);
    expect(other.body.error.message).toBe(`task ${taskId} not found`);
  });
});

describe('list-task-outputs handler', () => {
  it("lists the task's outputs as the jobs recorded them, all or one job's", async () => {
    const expected = { outputs: [{ index: 0, name: 'events.root', sizeBytes: 1234, adler32: '0a1b2c3d' }] };
    const all = await listOutputs();
    expect(all.statusCode).toBe(200);
    expect(all.body).toEqual(expected);
    expect((await listOutputs({ query: { index: '0' } })).body).toEqual(expected);
    expect((await listOutputs({ query: { index: '1' } })).body).toEqual({ outputs: [] });
  });

  it("answers 400 naming a bad index, 404 to a job past the task and to another user's task", async () => {
    const bad = await listOutputs({ query: { index: '-3' } });
    expect(bad.statusCode).toBe(400);
    expect(issueFields(bad.body)).toEqual(['query.index']);
    const past = await listOutputs({ query: { index: '9' } });
    expect(past.statusCode).toBe(404);
    expect(past.body.error.message).toBe(`job ${taskId}.9 not found`);
    expect((await listOutputs({ sub: 'mallory' })).statusCode).toBe(404);
  });
});
