import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobExplanation } from '#core/api/tasks.ts';
import { createHandler } from '#lambdas/tasks/explain-job/handler.ts';
import { createHandler as failTaskHandler } from '#lambdas/tasks/fail-task/handler.ts';
import { createHandler as splitTaskHandler } from '#lambdas/tasks/split-task/handler.ts';
import {
  createHandlerHarness,
  type HandlerHarness,
  httpEvent,
  invoke,
  invokeHttp,
  issueFields,
  TEST_SITE,
} from '#test/support/handler-harness.ts';
import {
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

let h: HandlerHarness;
let taskId: string;
let pilotId: string;

beforeAll(async () => {
  h = await createHandlerHarness();
  await h.addSite({ siteId: 'closed-site', status: 'offline' });
  // Two jobs at test-site; job 0 failed once and waits for its second attempt.
  const running = await runningTask(h, generationSpec(2, { maxAttempts: 3 }));
  taskId = running.taskId;
  pilotId = await registerPilot(h);
  await runAttempt(h, pilotId, refOf(nth(running.messages, 0)), FAILED);
  await h.settleJobChanges();
});

afterAll(async () => {
  await h?.close();
});

function explain(id: string, jobIndex: string, sub: string | null = 'alice') {
  return invokeHttp<JobExplanation & ErrorReply>(
    createHandler(h.deps),
    httpEvent({
      method: 'GET',
      path: '/tasks/{taskId}/jobs/{jobIndex}/why',
      pathParameters: { taskId: id, jobIndex },
      sub,
      scopes: USER_SCOPES,
    }),
  );
}

describe('explain-job handler', () => {
  it('says where the job was sent and why, its failed attempt, and why its retry waits', async () => {
    await h.deps.sites.recordCensus(
      TEST_SITE,
      { starting: 0, idle: 0, busy: 1, draining: 0 },
      h.clock.now().toISOString(),
    );
    const reply = await explain(taskId, '0');
    expect(reply.statusCode).toBe(200);
    expect(reply.body).toMatchObject({ taskId, jobIndex: 0, state: 'queued', attempt: 2, siteId: TEST_SITE });
    expect(reply.body.findings.map((f) => f.code)).toEqual([
      'state',
      'sent-to',
      'attempt',
      'attempt',
      'pilots-busy',
    ]);
    expect(reply.body.findings[1]?.message).toMatch(
      new RegExp(`^Job 0 was sent to site ${TEST_SITE}: brokerage chose ${TEST_SITE} with weight 100%`),
    );
    expect(reply.body.findings[2]?.message).toMatch(
      new RegExp(`^Attempt 1 ran at ${TEST_SITE} on pilot ${pilotId} \\(wn01.test\\): failed, 1001 `),
    );
    expect(reply.body.findings[4]?.message).toMatch(/^All 1 pilots at test-site are busy \(cap 100\)/);
  });

  it("names every site's reason for a job of a task no site could take", async () => {
    const failed = await submitTask(h, generationSpec(2, { resources: { gpus: 1 } }));
    const error = await invoke(splitTaskHandler(h.deps), { taskId: failed }).catch((e: unknown) => e);
    expect((error as Error).name).toBe('NoSiteError');
    await invoke(failTaskHandler(h.deps), {
      taskId: failed,
      error: { Error: 'NoSiteError', Cause: JSON.stringify({ errorMessage: (error as Error).message }) },
    });
    const reply = await explain(failed, '1');
    expect(reply.statusCode).toBe(200);
    expect(reply.body.findings[1]).toEqual({
      code: 'no-site',
      message: expect.stringMatching(
        new RegExp(`: closed-site: site is offline; ${TEST_SITE}: needs 1 GPU, slots have 0\\.$`),
      ),
    });
  });

  it('answers 404 to another user and for a job the task does not have, 400 naming the path, 401 without a subject', async () => {
    expect((await explain(taskId, '0', 'mallory')).statusCode).toBe(404);
    expect((await explain(taskId, '2')).statusCode).toBe(404);
    const bad = await explain(taskId, 'first');
    expect(bad.statusCode).toBe(400);
    expect(issueFields(bad.body)).toEqual(['path.jobIndex']);
    expect((await explain(taskId, '0', null)).statusCode).toBe(401);
  });
});
