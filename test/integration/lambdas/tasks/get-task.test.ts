import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorBody } from '#core/api/common.ts';
import type { TaskView } from '#core/api/tasks.ts';
import { createHandler } from '#lambdas/tasks/get-task/handler.ts';
import {
  createHandlerHarness,
  type HandlerHarness,
  httpEvent,
  invokeHttp,
  issueFields,
} from '#test/support/handler-harness.ts';
import {
  generationSpec,
  nth,
  refOf,
  registerPilot,
  runAttempt,
  runningTask,
  USER_SCOPES,
} from '../task-flow.ts';

let h: HandlerHarness;
let taskId: string;

beforeAll(async () => {
  h = await createHandlerHarness();
  const running = await runningTask(h, generationSpec(3));
  taskId = running.taskId;
  await runAttempt(h, await registerPilot(h), refOf(nth(running.messages, 0)));
  await h.settleJobChanges();
});

afterAll(async () => {
  await h?.close();
});

function getTask(id: string, sub: string | null = 'alice') {
  return invokeHttp<TaskView & ErrorBody>(
    createHandler(h.deps),
    httpEvent({
      method: 'GET',
      path: '/tasks/{taskId}',
      pathParameters: { taskId: id },
      sub,
      scopes: USER_SCOPES,
    }),
  );
}

describe('get-task handler', () => {
  it('gives the owner the task with its spec, history and job counts', async () => {
    const reply = await getTask(taskId);
    expect(reply.statusCode).toBe(200);
    expect(reply.body).toMatchObject({
      taskId,
      name: 'mc-gen',
      owner: 'alice',
      state: 'running',
      jobCount: 3,
      jobsEnqueued: 3,
      siteIds: ['test-site'],
      cancelRequested: false,
      counts: { defined: 0, queued: 2, running: 0, finished: 1, failed: 0, cancelled: 0 },
      spec: { name: 'mc-gen', events: 300, split: { eventsPerJob: 100 }, maxAttempts: 3 },
    });
    expect(reply.body.history.map((c) => c.state)).toEqual(['submitted', 'splitting', 'running']);
    // What only the store knows stays inside.
    for (const hidden of ['waitToken', 'sk', 'cancelSwept']) expect(reply.body).not.toHaveProperty(hidden);
  });

  it('answers 404 to another user, as if the task did not exist', async () => {
    const reply = await getTask(taskId, 'mallory');
    expect(reply.statusCode).toBe(404);
    expect(reply.body.error.code).toBe('NOT_FOUND');
    const missing = await getTask('t-doesnotexist0');
    expect(missing.statusCode).toBe(404);
    expect(missing.body).toEqual({
      error: { code: 'NOT_FOUND', message: reply.body.error.message.replace(taskId, 't-doesnotexist0') },
    });
  });

  it('answers 400 naming path.taskId to a malformed id', async () => {
    for (const bad of ['x', 'T-UPPER123', 't-has.dot00', `t-${'a'.repeat(60)}`]) {
      const reply = await getTask(bad);
      expect(reply.statusCode, bad).toBe(400);
      expect(issueFields(reply.body)).toEqual(['path.taskId']);
    }
  });

  it('answers 401 to a token without a subject', async () => {
    const reply = await getTask(taskId, null);
    expect(reply.statusCode).toBe(401);
    expect(reply.body.error.code).toBe('UNAUTHORIZED');
  });
});
