import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from '#core/api/common.ts';
import { SCOPES } from '#core/api/common.ts';
import type { RetryPolicySummary, RetryPolicyView, TestRetryPolicyResponse } from '#core/api/retry-policy.ts';
import { DEFAULT_RETRY_RULES } from '#core/policies/retry-rules.ts';
import { createHandler as getHandler } from '#lambdas/policies/get-retry-policy/handler.ts';
import { createHandler as versionsHandler } from '#lambdas/policies/list-retry-policy-versions/handler.ts';
import { createHandler as putHandler } from '#lambdas/policies/put-retry-policy/handler.ts';
import { createHandler as testHandler } from '#lambdas/policies/test-retry-policy/handler.ts';
import {
  createHandlerHarness,
  type HandlerHarness,
  httpEvent,
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
} from '../task-flow.ts';

let h: HandlerHarness;

beforeAll(async () => {
  h = await createHandlerHarness();
  await h.addSite({ siteId: TEST_SITE, slot: { memoryMB: 8000 } });
});

afterAll(async () => {
  await h?.close();
});

const operator = { sub: 'operator', scopes: [SCOPES.admin] };
const NO_RETRY_EXIT_3 = {
  description: 'exit 3 is bad input',
  rules: [{ name: 'bad-input', match: { exitCodes: [3] }, action: { type: 'no-retry' } }],
};

function get(query: Record<string, string> = {}) {
  return invokeHttp<RetryPolicyView & ErrorReply>(
    getHandler(h.deps),
    httpEvent({ method: 'GET', path: '/retry-policy', query, scopes: [SCOPES.read] }),
  );
}

function put(body: unknown) {
  return invokeHttp<RetryPolicyView & ErrorReply>(
    putHandler(h.deps),
    httpEvent({ method: 'PUT', path: '/retry-policy', body, ...operator }),
  );
}

function versions() {
  return invokeHttp<Page<RetryPolicySummary> & ErrorReply>(
    versionsHandler(h.deps),
    httpEvent({ method: 'GET', path: '/retry-policy/versions', scopes: [SCOPES.read] }),
  );
}

function test(body: unknown, sub = 'alice', scopes: string[] = [SCOPES.read]) {
  return invokeHttp<TestRetryPolicyResponse & ErrorReply>(
    testHandler(h.deps),
    httpEvent({ method: 'POST', path: '/retry-policy/test', body, sub, scopes }),
  );
}

describe('retry policy handlers', () => {
  it('answer the built-in rules as version 0 before any is stored', async () => {
    const reply = await get();
    expect(reply.statusCode).toBe(200);
    expect(reply.body).toEqual({ version: 0, current: true, ruleSet: DEFAULT_RETRY_RULES });
  });

  it.each<[string, unknown, string[]]>([
    [
      'a rule that matches nothing',
      { rules: [...NO_RETRY_EXIT_3.rules, { match: {}, action: { type: 'retry' } }] },
      ['rules.1.match'],
    ],
    [
      'memory × 0',
      { rules: [{ match: { pilotErrorCodes: [1102] }, action: { type: 'retry-memory', factor: 0 } }] },
      ['rules.0.action.factor'],
    ],
    [
      'an unknown error code and a bad pattern',
      { rules: [{ match: { pilotErrorCodes: [999], message: '(' }, action: { type: 'retry' } }] },
      ['rules.0.match.message', 'rules.0.match.pilotErrorCodes.0'],
    ],
    ['not JSON', 'rules: [', ['body']],
  ])('refuse %s with a 400 naming the field, storing nothing', async (_, body, fields) => {
    const reply = await put(body);
    expect(reply.statusCode).toBe(400);
    expect(reply.body.error.code).toBe('INVALID_INPUT');
    expect(issueFields(reply.body).sort()).toEqual(fields);
    expect((await get()).body.version).toBe(0);
  });

  it('store a change as version 1, current at once; versions list it above the built-in rules', async () => {
    const reply = await put(NO_RETRY_EXIT_3);
    expect(reply.statusCode).toBe(200);
    expect(reply.body).toMatchObject({
      version: 1,
      current: true,
      createdBy: 'operator',
      ruleSet: { systemRetryLimit: 10, rules: [{ action: { type: 'no-retry' } }] },
    });
    expect((await get()).body).toMatchObject({ version: 1, current: true });
    expect((await get({ version: '0' })).body).toMatchObject({ version: 0, current: false });
    expect((await get({ version: '7' })).statusCode).toBe(404);
    const bad = await get({ version: 'latest' });
    expect(bad.statusCode).toBe(400);
    expect(issueFields(bad.body)).toEqual(['query.version']);
    const listed = await versions();
    expect(listed.body.items.map((v) => [v.version, v.current, v.rules])).toEqual([
      [1, true, 1],
      [0, false, 3],
    ]);
  });

  it('decide the next failure with the stored rules, and replay it against proposed ones', async () => {
    const pilotId = await registerPilot(h);
    const { taskId, messages } = await runningTask(h, generationSpec(1));
    const ended = await runAttempt(h, pilotId, refOf(nth(messages, 0)), FAILED);
    // Version 1 says exit 3 is not retried, whatever maxAttempts (3) allows.
    expect(ended).toEqual({ outcome: 'recorded', jobState: 'failed', attempt: 1 });

    const reply = await test({ ruleSet: { rules: [] } });
    expect(reply.statusCode).toBe(200);
    expect(reply.body).toMatchObject({
      currentVersion: 1,
      tasks: [taskId],
      jobs: 1,
      failures: 1,
      jobsRescued: 1,
      extraMemoryMB: 2000,
      changes: [{ taskId, jobIndex: 0, outcome: 'rescued', attempt: 1, exitCode: 3 }],
    });
    // Another user replays their own tasks only: alice's task is not theirs.
    const bobs = await test({ ruleSet: { rules: [] }, taskIds: [taskId] }, 'bob');
    expect(bobs.statusCode).toBe(404);
    const bad = await test({ ruleSet: { rules: [{ match: {}, action: { type: 'retry' } }] } });
    expect(bad.statusCode).toBe(400);
    expect(issueFields(bad.body)).toEqual(['ruleSet.rules.0.match']);
  });
});
