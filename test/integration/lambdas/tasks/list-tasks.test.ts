import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorBody } from '#core/api/common.ts';
import type { TaskSummary } from '#core/api/tasks.ts';
import { createHandler } from '#lambdas/tasks/list-tasks/handler.ts';
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
  submitTask,
  USER_SCOPES,
} from '../task-flow.ts';

type ListReply = { items: TaskSummary[]; nextToken?: string } & ErrorBody;

let h: HandlerHarness;
/** dave's tasks, oldest first: three submitted, then one running with a job finished. */
const daves: string[] = [];

beforeAll(async () => {
  h = await createHandlerHarness();
  for (let i = 0; i < 3; i++) {
    daves.push(await submitTask(h, generationSpec(i + 1, { name: `dave-${i}` }), 'dave'));
    h.clock.advance(1000);
  }
  await submitTask(h, generationSpec(1), 'erin');
  h.clock.advance(1000);
  const { taskId, messages } = await runningTask(h, generationSpec(2, { name: 'dave-counted' }), 'dave');
  await runAttempt(h, await registerPilot(h), refOf(nth(messages, 1)));
  await h.settleJobChanges();
  daves.push(taskId);
});

afterAll(async () => {
  await h?.close();
});

function listTasks(query: Record<string, string> = {}, sub: string | null = 'dave') {
  return invokeHttp<ListReply>(
    createHandler(h.deps),
    httpEvent({ method: 'GET', path: '/tasks', query, sub, scopes: USER_SCOPES }),
  );
}

describe('list-tasks handler', () => {
  it("lists only the caller's tasks, newest first, as summaries", async () => {
    const reply = await listTasks();
    expect(reply.statusCode).toBe(200);
    expect(reply.body.items.map((t) => t.taskId)).toEqual([...daves].reverse());
    expect(reply.body.nextToken).toBeUndefined();
    expect(reply.body.items[1]).toMatchObject({
      name: 'dave-2',
      owner: 'dave',
      state: 'submitted',
      jobCount: 3,
    });
    expect(reply.body.items[1]?.counts).toEqual({
      defined: 3,
      queued: 0,
      running: 0,
      finished: 0,
      failed: 0,
      cancelled: 0,
    });
    for (const task of reply.body.items) {
      for (const hidden of ['spec', 'history', 'waitToken', 'cancelSwept'])
        expect(task).not.toHaveProperty(hidden);
    }
  });

  it('gives each task its job counts, as the change feed keeps them', async () => {
    const reply = await listTasks({ limit: '1' });
    expect(reply.body.items.map((t) => [t.taskId, t.state, t.counts])).toEqual([
      [daves[3], 'running', { defined: 0, queued: 1, running: 0, finished: 1, failed: 0, cancelled: 0 }],
    ]);
  });

  it('pages with limit and nextToken', async () => {
    const first = await listTasks({ limit: '3' });
    expect(first.statusCode).toBe(200);
    expect(first.body.items.map((t) => t.taskId)).toEqual([daves[3], daves[2], daves[1]]);
    expect(first.body.nextToken).toEqual(expect.any(String));

    const second = await listTasks({ limit: '3', nextToken: first.body.nextToken ?? '' });
    expect(second.statusCode).toBe(200);
    expect(second.body.items.map((t) => t.taskId)).toEqual([daves[0]]);
    expect(second.body.nextToken).toBeUndefined();
  });

  it('gives another user none of these tasks', async () => {
    const reply = await listTasks({}, 'mallory');
    expect(reply.statusCode).toBe(200);
    expect(reply.body).toEqual({ items: [] });
  });

  it('answers 400 naming query.limit to a bad limit', async () => {
    for (const limit of ['0', '-1', 'ten', '1001', '2.5']) {
      const reply = await listTasks({ limit });
      expect(reply.statusCode, limit).toBe(400);
      expect(issueFields(reply.body)).toEqual(['query.limit']);
    }
  });

  it('answers 400 to an unknown query parameter, naming it', async () => {
    const reply = await listTasks({ state: 'running' });
    expect(reply.statusCode).toBe(400);
    expect(issueFields(reply.body)).toEqual(['query.state']);
  });

  it('answers 400 naming query.nextToken to a token that is not from a previous page', async () => {
    // A token of dave's listing is no token for erin's.
    const davesToken = (await listTasks({ limit: '1' })).body.nextToken;
    expect(davesToken).toEqual(expect.any(String));
    for (const [nextToken, sub] of [
      ['not a token', 'dave'],
      ['eyJ4IjoxfQ', 'dave'],
      [davesToken ?? '', 'erin'],
    ] as const) {
      const reply = await listTasks({ nextToken }, sub);
      expect(reply.statusCode, nextToken).toBe(400);
      expect(reply.body.error.code).toBe('INVALID_INPUT');
      expect(issueFields(reply.body)).toEqual(['query.nextToken']);
    }
  });

  it('answers 401 to a token without a subject', async () => {
    const reply = await listTasks({}, null);
    expect(reply.statusCode).toBe(401);
  });
});
