import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobView } from '#core/api/tasks.ts';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import { createHandler } from '#lambdas/jobs/get-job/handler.ts';
import {
  createHandlerHarness,
  type HandlerHarness,
  httpEvent,
  invokeHttp,
  issueFields,
  TEST_SITE,
} from '#test/support/handler-harness.ts';
import {
  claimed,
  type ErrorReply,
  FAILED,
  generationSpec,
  nth,
  refOf,
  registerPilot,
  report,
  runAttempt,
  runningTask,
  USAGE,
  USER_SCOPES,
} from '../task-flow.ts';

let h: HandlerHarness;
let pilotId: string;
let taskId: string;

beforeAll(async () => {
  h = await createHandlerHarness();
  pilotId = await registerPilot(h);
  const running = await runningTask(h, generationSpec(4, { maxAttempts: 3 }));
  taskId = running.taskId;
  // Job 0 fails once, then finishes; job 1 is running; jobs 2 and 3 have never been claimed.
  const first = refOf(nth(running.messages, 0));
  await runAttempt(h, pilotId, first, FAILED);
  await h.settleJobChanges();
  await runAttempt(h, pilotId, { ...first, attempt: 2 });
  await claimed(h, pilotId, refOf(nth(running.messages, 1)));
  await h.settleJobChanges();
});

afterAll(async () => {
  await h?.close();
});

function getJob(jobIndex: string, options: { sub?: string | null; taskId?: string } = {}) {
  return invokeHttp<JobView & ErrorReply>(
    createHandler(h.deps),
    httpEvent({
      method: 'GET',
      path: '/tasks/{taskId}/jobs/{jobIndex}',
      pathParameters: { taskId: options.taskId ?? taskId, jobIndex },
      sub: options.sub,
      scopes: USER_SCOPES,
    }),
  );
}

describe('get-job handler', () => {
  it('answers a job with every attempt it had, oldest first: the archived one and the final one', async () => {
    const reply = await getJob('0');

    expect(reply.statusCode).toBe(200);
    expect(reply.body).toMatchObject({
      jobId: `${taskId}.0`,
      taskId,
      jobIndex: 0,
      state: 'finished',
      attempt: 2,
      siteId: TEST_SITE,
      pilotId,
      firstEvent: 0,
      nEvents: 100,
      exitCode: 0,
      pilotErrorCode: 0,
    });
    expect(reply.body.attempts).toEqual([
      {
        attempt: 1,
        pilotId,
        siteId: TEST_SITE,
        host: 'wn01.test',
        state: 'failed',
        startedAt: expect.any(String),
        endedAt: expect.any(String),
        pilotErrorCode: PILOT_ERROR_CODES.PAYLOAD_FAILED,
        exitCode: 3,
        errorMessage: 'exit 3',
        usage: USAGE,
        outputs: report({ taskId, jobIndex: 0, attempt: 1 }).outputs,
        log: report({ taskId, jobIndex: 0, attempt: 1 }).log,
      },
      {
        attempt: 2,
        pilotId,
        siteId: TEST_SITE,
        host: 'wn01.test',
        state: 'finished',
        startedAt: expect.any(String),
        endedAt: expect.any(String),
        pilotErrorCode: 0,
        exitCode: 0,
        usage: USAGE,
        outputs: report({ taskId, jobIndex: 0, attempt: 2 }).outputs,
        log: report({ taskId, jobIndex: 0, attempt: 2 }).log,
      },
    ]);
    for (const hidden of ['failures', 'ended', 'updatedAt', 'owner'])
      expect(reply.body).not.toHaveProperty(hidden);
  });

  it('answers a running job with no attempt ended yet', async () => {
    const reply = await getJob('1');
    expect(reply.statusCode).toBe(200);
    expect(reply.body).toMatchObject({
      jobIndex: 1,
      state: 'running',
      attempt: 1,
      pilotId,
      host: 'wn01.test',
    });
    expect(reply.body.attempts).toEqual([]);
  });

  it('answers a job never claimed as queued at attempt 1 at its brokered site', async () => {
    const reply = await getJob('3');
    expect(reply.statusCode).toBe(200);
    expect(reply.body).toEqual({
      jobId: `${taskId}.3`,
      taskId,
      jobIndex: 3,
      state: 'queued',
      attempt: 1,
      siteId: TEST_SITE,
      firstEvent: 300,
      nEvents: 100,
      attempts: [],
    });
  });

  it('answers 404 to a job index past the task and to a task of another user', async () => {
    const past = await getJob('4');
    expect(past.statusCode).toBe(404);
    expect(past.body.error).toEqual({ code: 'NOT_FOUND', message: `job ${taskId}.4 not found` });
    const other = await getJob('0', { sub: 'mallory' });
    expect(other.statusCode).toBe(404);
    expect(other.body.error.code).toBe('NOT_FOUND');
    expect(other.body).not.toHaveProperty('attempts');
  });

  it('answers 400 naming the bad path fields', async () => {
    for (const bad of ['x', '-1', '1.5']) {
      const reply = await getJob(bad);
      expect(reply.statusCode, bad).toBe(400);
      expect(issueFields(reply.body)).toEqual(['path.jobIndex']);
    }
    const both = await getJob('x', { taskId: 'task-1' });
    expect(issueFields(both.body)).toEqual(['path.jobIndex', 'path.taskId']);
  });

  it('answers 401 to a token without a subject', async () => {
    const reply = await getJob('0', { sub: null });
    expect(reply.statusCode).toBe(401);
    expect(reply.body.error.code).toBe('UNAUTHORIZED');
  });
});
