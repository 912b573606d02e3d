import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskExplanation } from '#core/api/tasks.ts';
import { createHandler } from '#lambdas/tasks/explain-task/handler.ts';
import {
  createHandlerHarness,
  type HandlerHarness,
  httpEvent,
  invokeHttp,
  issueFields,
  TEST_SITE,
} from '#test/support/handler-harness.ts';
import { type ErrorReply, generationSpec, splitAndEnqueue, submitTask, USER_SCOPES } from '../task-flow.ts';

let h: HandlerHarness;
let taskId: string;

beforeAll(async () => {
  h = await createHandlerHarness();
  await h.addSite({ siteId: 'closed-site', status: 'offline' });
  // Three jobs queued at test-site, their messages waiting in its queue.
  taskId = await submitTask(h, generationSpec(3));
  await splitAndEnqueue(h, taskId);
});

afterAll(async () => {
  await h?.close();
});

function explain(id: string, sub: string | null = 'alice') {
  return invokeHttp<TaskExplanation & ErrorReply>(
    createHandler(h.deps),
    httpEvent({
      method: 'GET',
      path: '/tasks/{taskId}/why',
      pathParameters: { taskId: id },
      sub,
      scopes: USER_SCOPES,
    }),
  );
}

async function census(
  pilots: Partial<Record<'starting' | 'idle' | 'busy' | 'draining', number>>,
): Promise<void> {
  await h.deps.sites.recordCensus(
    TEST_SITE,
    { starting: 0, idle: 0, busy: 0, draining: 0, ...pilots },
    h.clock.now().toISOString(),
  );
}

describe('explain-task handler', () => {
  it('says the jobs wait for pilots at a site that has none, and why other sites were not chosen', async () => {
    await census({});
    // SQS counts messages approximately: wait until it shows the three.
    await expect.poll(() => h.queueDepth(), { timeout: 10_000, interval: 100 }).toBe(3);
    const reply = await explain(taskId);

    expect(reply.statusCode).toBe(200);
    const brokerage = await h.deps.tasks.getBrokerage(taskId);
    expect(reply.body).toEqual({
      taskId,
      state: 'running',
      findings: [
        '3 of 3 jobs are queued.',
        `Brokerage chose 1 of 2 sites (at ${brokerage?.at}): ${TEST_SITE} 100% of the jobs.`,
        `No pilot is running at ${TEST_SITE}: 3 job messages wait for its pilot factory to start pilots (up to 100).`,
      ],
      sites: [
        { siteId: 'closed-site', chosen: false, rejected: 'site is offline', filter: 'status' },
        {
          siteId: TEST_SITE,
          chosen: true,
          weight: 1,
          status: 'online',
          queuedJobs: 3,
          pilots: { starting: 0, idle: 0, busy: 0, draining: 0 },
          maxPilots: 100,
        },
      ],
      brokerage,
    });
    expect(brokerage?.rejected).toEqual([
      { siteId: 'closed-site', filter: 'status', reason: 'site is offline', details: { status: 'offline' } },
    ]);
  });

  it("reads the site's pilots from the reaper's census", async () => {
    await census({ busy: 2 });
    expect((await explain(taskId)).body.findings).toContain(
      `All 2 pilots at ${TEST_SITE} are busy (cap 100); 3 job messages wait their turn, first in first out.`,
    );
    await census({ idle: 1, busy: 1 });
    expect((await explain(taskId)).body.findings).toContain(
      `1 pilots at ${TEST_SITE} are idle or starting: queued jobs should start within a poll.`,
    );
  });

  it('says a task was cancelled and that a task not yet enqueued is waiting for its split', async () => {
    const submitted = await submitTask(h, generationSpec(2));
    expect((await explain(submitted)).body.findings).toContain(
      'The task is submitted: 0 of 2 jobs are queued so far.',
    );
    await h.deps.tasks.requestCancel(submitted, h.clock.now().toISOString());
    expect((await explain(submitted)).body.findings[0]).toBe(
      'The task was cancelled: no job of it will start any more.',
    );
  });

  it('answers 404 to another user, 400 naming path.taskId and 401 without a subject', async () => {
    const other = await explain(taskId, 'mallory');
    expect(other.statusCode).toBe(404);
    expect(other.body.error.code).toBe('NOT_FOUND');
    expect(other.body).not.toHaveProperty('findings');
    const bad = await explain('why');
    expect(bad.statusCode).toBe(400);
    expect(issueFields(bad.body)).toEqual(['path.taskId']);
    expect((await explain(taskId, null)).statusCode).toBe(401);
  });
});
