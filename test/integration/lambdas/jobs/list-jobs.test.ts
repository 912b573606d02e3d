import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobView } from '#core/api/tasks.ts';
import { createHandler } from '#lambdas/jobs/list-jobs/handler.ts';
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
  runAttempt,
  runningTask,
  submitTask,
  USER_SCOPES,
} from '../task-flow.ts';

type ListReply = { items: JobView[]; nextToken?: string } & ErrorReply;

let h: HandlerHarness;
let taskId: string;
let pilotId: string;

beforeAll(async () => {
  h = await createHandlerHarness();
  pilotId = await registerPilot(h);
  // Six jobs: 1 running, 3 finished, 4 failed (its only attempt), the others queued without a record.
  const running = await runningTask(h, generationSpec(6, { maxAttempts: 1 }));
  taskId = running.taskId;
  await claimed(h, pilotId, refOf(nth(running.messages, 1)));
  await runAttempt(h, pilotId, refOf(nth(running.messages, 3)));
  await runAttempt(h, pilotId, refOf(nth(running.messages, 4)), FAILED);
});

afterAll(async () => {
  await h?.close();
});

function listJobs(query: Record<string, string> = {}, sub: string | null = 'alice', id = taskId) {
  return invokeHttp<ListReply>(
    createHandler(h.deps),
    httpEvent({
      method: 'GET',
      path: '/tasks/{taskId}/jobs',
      pathParameters: { taskId: id },
      query,
      sub,
      scopes: USER_SCOPES,
    }),
  );
}

/** Every page of a listing: the job indexes in order, and how many pages it took. */
async function allPages(
  query: Record<string, string>,
  id = taskId,
): Promise<{ indexes: number[]; pages: number }> {
  const indexes: number[] = [];
  let nextToken: string | undefined;
  let pages = 0;
  do {
    const reply = await listJobs(
      { ...query, ...(nextToken === undefined ? {} : { nextToken }) },
      'alice',
      id,
    );
    expect(reply.statusCode, JSON.stringify(reply.body)).toBe(200);
    indexes.push(...reply.body.items.map((j) => j.jobIndex));
    nextToken = reply.body.nextToken;
    pages++;
  } while (nextToken !== undefined && pages < 20);
  return { indexes, pages };
}

describe('list-jobs handler', () => {
  it("lists the task's jobs in index order: records where there are, queued jobs derived where not", async () => {
    const reply = await listJobs();
    expect(reply.statusCode).toBe(200);
    expect(reply.body.items.map((j) => [j.jobIndex, j.state, j.attempt])).toEqual([
      [0, 'queued', 1],
      [1, 'running', 1],
      [2, 'queued', 1],
      [3, 'finished', 1],
      [4, 'failed', 1],
      [5, 'queued', 1],
    ]);
    expect(reply.body.nextToken).toBeUndefined();
    expect(reply.body.items[2]).toEqual({
      jobId: `${taskId}.2`,
      taskId,
      jobIndex: 2,
      state: 'queued',
      attempt: 1,
      siteId: TEST_SITE,
      firstEvent: 200,
      nEvents: 100,
    });
    expect(reply.body.items[1]).toMatchObject({ pilotId, host: 'wn01.test', siteId: TEST_SITE });
    expect(reply.body.items[4]).toMatchObject({ exitCode: 3, pilotErrorCode: 1001, errorMessage: 'exit 3' });
    for (const job of reply.body.items) {
      for (const hidden of ['attempts', 'failures', 'ended', 'updatedAt', 'owner'])
        expect(job).not.toHaveProperty(hidden);
    }
  });

  it('pages with limit and nextToken', async () => {
    const { indexes, pages } = await allPages({ limit: '2' });
    expect(indexes).toEqual([0, 1, 2, 3, 4, 5]);
    expect(pages).toBe(3);
  });

  it('filters by state, recorded and derived, and pages within the filter', async () => {
    expect((await allPages({ state: 'running' })).indexes).toEqual([1]);
    expect((await allPages({ state: 'finished' })).indexes).toEqual([3]);
    expect((await allPages({ state: 'failed' })).indexes).toEqual([4]);
    expect((await allPages({ state: 'cancelled' })).indexes).toEqual([]);
    const queued = await allPages({ state: 'queued', limit: '2' });
    expect(queued.indexes).toEqual([0, 2, 5]);
    expect(queued.pages).toBeGreaterThanOrEqual(2);
  });

  it('lists jobs not yet enqueued as defined, and every job of a cancelled task that never ran as cancelled', async () => {
    const submitted = await submitTask(h, generationSpec(3));
    expect((await listJobs({}, 'alice', submitted)).body.items.map((j) => j.state)).toEqual([
      'defined',
      'defined',
      'defined',
    ]);

    const cancelled = await runningTask(h, generationSpec(3));
    await claimed(h, pilotId, refOf(nth(cancelled.messages, 1)));
    await h.deps.tasks.requestCancel(cancelled.taskId, h.clock.now().toISOString());
    const reply = await listJobs({}, 'alice', cancelled.taskId);
    expect(reply.body.items.map((j) => [j.jobIndex, j.state])).toEqual([
      [0, 'cancelled'],
      [1, 'running'],
      [2, 'cancelled'],
    ]);
    expect((await allPages({ state: 'cancelled' }, cancelled.taskId)).indexes).toEqual([0, 2]);
    expect((await allPages({ state: 'queued' }, cancelled.taskId)).indexes).toEqual([]);
  });

  it('answers 400 naming query.nextToken to a token that is not one', async () => {
    for (const nextToken of ['abc', '-1', '01', '1.5']) {
      const reply = await listJobs({ nextToken });
      expect(reply.statusCode, nextToken).toBe(400);
      expect(reply.body.error.code).toBe('INVALID_INPUT');
      expect(issueFields(reply.body)).toEqual(['query.nextToken']);
    }
  });

  it('answers 400 naming query.limit or query.state to a bad query', async () => {
    const limit = await listJobs({ limit: '0' });
    expect(limit.statusCode).toBe(400);
    expect(issueFields(limit.body)).toEqual(['query.limit']);
    const state = await listJobs({ state: 'exploded' });
    expect(issueFields(state.body)).toEqual(['query.state']);
    const both = await listJobs({ state: 'Queued', limit: 'many' });
    expect(issueFields(both.body)).toEqual(['query.limit', 'query.state']);
    const unknown = await listJobs({ color: 'red' });
    expect(issueFields(unknown.body)).toEqual(['query.color']);
  });

  it('answers 404 to another user', async () => {
    const reply = await listJobs({}, 'mallory');
    expect(reply.statusCode).toBe(404);
    expect(reply.body.error.code).toBe('NOT_FOUND');
    expect(reply.body).not.toHaveProperty('items');
  });

  it('answers 400 naming path.taskId to a malformed task id', async () => {
    const reply = await listJobs({}, 'alice', 'task-1');
    expect(reply.statusCode).toBe(400);
    expect(issueFields(reply.body)).toEqual(['path.taskId']);
  });

  it('answers 401 to a token without a subject', async () => {
    const reply = await listJobs({}, null);
    expect(reply.statusCode).toBe(401);
    expect(reply.body.error.code).toBe('UNAUTHORIZED');
  });
});
