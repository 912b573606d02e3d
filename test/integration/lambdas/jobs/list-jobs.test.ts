import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorBody, JobView } from '#core/api/contract.ts';
import { createHandler } from '#lambdas/jobs/list-jobs/handler.ts';
import {
  createHandlerHarness,
  type HandlerHarness,
  httpEvent,
  invokeHttp,
  issueFields,
} from '#test/support/handler-harness.ts';
import { claimed, generationSpec, refOf, registerPilot, runningTask, USER_SCOPES } from '../task-flow.ts';

type ListReply = { jobs: JobView[]; nextToken?: string } & ErrorBody;

let h: HandlerHarness;
let taskId: string;

beforeAll(async () => {
  h = await createHandlerHarness();
  const running = await runningTask(h, generationSpec(5));
  taskId = running.taskId;
  const pilotId = await registerPilot(h);
  const second = running.messages[1];
  if (second === undefined) throw new Error('no message for job 1');
  await claimed(h, pilotId, refOf(second));
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

describe('list-jobs handler', () => {
  it("lists the task's jobs in index order, as views", async () => {
    const reply = await listJobs();
    expect(reply.statusCode).toBe(200);
    expect(reply.body.jobs.map((j) => [j.jobIndex, j.state])).toEqual([
      [0, 'queued'],
      [1, 'starting'],
      [2, 'queued'],
      [3, 'queued'],
      [4, 'queued'],
    ]);
    expect(reply.body.jobs[2]).toMatchObject({
      jobId: `${taskId}.2`,
      taskId,
      attempt: 1,
      siteId: 'test-site',
      firstEvent: 200,
      nEvents: 100,
      attempts: [],
    });
    expect(reply.body.jobs[1]).toMatchObject({ pilotId: expect.stringMatching(/^p-/), host: 'wn01.test' });
    for (const job of reply.body.jobs) {
      for (const hidden of ['owner', 'failures', 'leaseExpiresAt', 'queuedAt', 'stateIndex', 'leaseShard']) {
        expect(job).not.toHaveProperty(hidden);
      }
    }
  });

  it('pages with limit and nextToken', async () => {
    const seen: number[] = [];
    let nextToken: string | undefined;
    let pages = 0;
    do {
      const reply = await listJobs({ limit: '2', ...(nextToken === undefined ? {} : { nextToken }) });
      expect(reply.statusCode).toBe(200);
      expect(reply.body.jobs.length).toBeLessThanOrEqual(2);
      seen.push(...reply.body.jobs.map((j) => j.jobIndex));
      nextToken = reply.body.nextToken;
      pages++;
    } while (nextToken !== undefined && pages < 10);
    expect(seen).toEqual([0, 1, 2, 3, 4]);
    expect(pages).toBeGreaterThanOrEqual(3);
  });

  it('filters by state, and pages within the filter', async () => {
    const starting = await listJobs({ state: 'starting' });
    expect(starting.body.jobs.map((j) => j.jobIndex)).toEqual([1]);
    const first = await listJobs({ state: 'queued', limit: '3' });
    expect(first.body.jobs.map((j) => j.jobIndex)).toEqual([0, 2, 3]);
    expect(first.body.nextToken).toEqual(expect.any(String));
    const second = await listJobs({ state: 'queued', limit: '3', nextToken: first.body.nextToken ?? '' });
    expect(second.body.jobs.map((j) => j.jobIndex)).toEqual([4]);
    expect(second.body.nextToken).toBeUndefined();
    expect((await listJobs({ state: 'finished' })).body).toEqual({ jobs: [] });
  });

  it('answers 400 to a token of another task or of the unfiltered listing', async () => {
    const allToken = (await listJobs({ limit: '1' })).body.nextToken;
    const other = await runningTask(h, generationSpec(1));
    for (const [query, id] of [
      [{ nextToken: allToken ?? '' }, other.taskId],
      [{ state: 'queued', nextToken: allToken ?? '' }, taskId],
    ] as const) {
      const reply = await listJobs(query, 'alice', id);
      expect(reply.statusCode, JSON.stringify(query)).toBe(400);
      expect(reply.body.error.code).toBe('INVALID_INPUT');
      expect(issueFields(reply.body)).toEqual(['query.nextToken']);
    }
  });

  it('answers 400, not 500, to a token of the queued jobs used for the finished ones', async () => {
    const queuedToken = (await listJobs({ state: 'queued', limit: '1' })).body.nextToken;
    expect(queuedToken).toEqual(expect.any(String));
    const reply = await listJobs({ state: 'finished', nextToken: queuedToken ?? '' });
    expect(reply.statusCode).toBe(400);
    expect(reply.body.error.code).toBe('INVALID_INPUT');
    expect(issueFields(reply.body)).toEqual(['query.nextToken']);
  });

  it('answers 404 to another user', async () => {
    const reply = await listJobs({}, 'mallory');
    expect(reply.statusCode).toBe(404);
    expect(reply.body.error.code).toBe('NOT_FOUND');
    expect(reply.body).not.toHaveProperty('jobs');
  });

  it('answers 400 naming query.limit or query.state to a bad query', async () => {
    const limit = await listJobs({ limit: '0' });
    expect(limit.statusCode).toBe(400);
    expect(issueFields(limit.body)).toEqual(['query.limit']);
    const state = await listJobs({ state: 'exploded' });
    expect(state.statusCode).toBe(400);
    expect(issueFields(state.body)).toEqual(['query.state']);
    const both = await listJobs({ state: 'Queued', limit: 'many' });
    expect(both.statusCode).toBe(400);
    expect(issueFields(both.body)).toEqual(['query.limit', 'query.state']);
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
