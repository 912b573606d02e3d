/**
 * A task with a budget on a free and a paid site, through the real handlers on DynamoDB Local and
 * the SQS stand-in: its attempts at the paid site cost their pilot's price (recorded by the jobs
 * feed), and once spent and expected cost reach the budget, dispatch sends its jobs to the free
 * site only, and `why` says so.
 */
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskExplanation } from '#core/api/tasks.ts';
import { createHandler as dispatchHandler } from '#lambdas/policies/dispatch-jobs/handler.ts';
import { createHandler as explainTaskHandler } from '#lambdas/tasks/explain-task/handler.ts';
import { createHandler as submitTaskHandler } from '#lambdas/tasks/submit-task/handler.ts';
import {
  createHandlerHarness,
  type HandlerHarness,
  httpEvent,
  invoke,
  invokeHttp,
  TEST_SITE,
} from '#test/support/handler-harness.ts';
import {
  claimed,
  complete,
  type ErrorReply,
  generationSpec,
  nth,
  refOf,
  registerPilot,
  report,
  splitAndEnqueue,
  submitTask,
  USER_SCOPES,
} from '../task-flow.ts';

const PAID = 'cloud-a';
/** One pilot's part of its instance's price, USD per hour. */
const HOURLY_USD = 0.06;

let h: HandlerHarness;

beforeAll(async () => {
  h = await createHandlerHarness();
  await h.addSite({ siteId: TEST_SITE, maxQueued: 1 });
  await h.addSite({
    siteId: PAID,
    kind: 'cloud',
    maxQueued: 1,
    provisioning: {
      type: 'ec2',
      instanceTypes: [{ type: 'm5.large' }],
      subnets: ['subnet-0123abcd'],
      maxInstances: 4,
      maxHourlyUsd: 1,
    },
  });
});

afterAll(async () => {
  await h?.close();
});

function dispatchRound() {
  return invoke(dispatchHandler(h.deps), {}, 'dispatch-jobs');
}

async function why(taskId: string): Promise<TaskExplanation> {
  const reply = await invokeHttp<TaskExplanation>(
    explainTaskHandler(h.deps),
    httpEvent({
      method: 'GET',
      path: '/tasks/{taskId}/why',
      pathParameters: { taskId },
      sub: 'alice',
      scopes: USER_SCOPES,
    }),
  );
  expect(reply.statusCode, JSON.stringify(reply.body)).toBe(200);
  return reply.body;
}

/**
 * A pilot of the paid site with its price. Registration prices a cloud pilot (another part's work):
 * here the registry's record gets its cost as registration would write it.
 */
async function pricedPilot(): Promise<string> {
  const pilotId = await registerPilot(h, { siteId: PAID, host: 'ip-10-0-0-1.ec2.internal' });
  const pilot = await h.deps.pilots.get(pilotId);
  if (pilot === undefined) throw new Error(`pilot ${pilotId} not registered`);
  await h.db.send(
    new PutCommand({
      TableName: h.tables.pilots,
      Item: {
        ...pilot,
        cost: { hourlyUsd: HOURLY_USD, instanceHourlyUsd: HOURLY_USD, source: 'table', asOf: '2026-11-01' },
      },
    }),
  );
  return pilotId;
}

describe('a task with a budget', () => {
  it('refuses a budget of 0 or less, naming budget.usd', async () => {
    for (const usd of [0, -1]) {
      const reply = await invokeHttp<ErrorReply>(
        submitTaskHandler(h.deps),
        httpEvent({
          method: 'POST',
          path: '/tasks',
          body: generationSpec(1, { budget: { usd } }),
          sub: 'alice',
          scopes: USER_SCOPES,
        }),
      );
      expect(reply.statusCode).toBe(400);
      expect(reply.body.error.issues?.map((i) => i.field)).toEqual(['budget.usd']);
    }
  });

  it('goes to the paid site until its cost reaches the budget, then to the free site only, and why says so', async () => {
    // One hour at the paid site costs HOURLY_USD; the budget is less: one attempt spends it.
    const taskId = await submitTask(h, generationSpec(8, { budget: { usd: 0.05 } }));
    await splitAndEnqueue(h, taskId);
    const [free, paid] = await Promise.all([
      h.receiveJobMessages(1, { taskId }),
      h.receiveJobMessages(1, { taskId, siteId: PAID }),
    ]);
    expect(free).toHaveLength(1);
    expect(paid).toHaveLength(1);
    expect((await why(taskId)).findings).toContain(
      `Budget: $0.00 of $0.05 spent (+ $0.00 expected for 2 jobs in flight): its jobs may still go to its paid sites (${PAID}).`,
    );

    // The paid site's job runs an hour there; the feed records its cost.
    const pilotId = await pricedPilot();
    const ref = refOf(nth(paid, 0));
    const sub = `pilot:${PAID}`;
    await claimed(h, pilotId, ref, { sub });
    const usage = { wallTimeSec: 3600, cpuTimeSec: 3000, maxRssKB: 10_240 };
    const done = await complete(h, pilotId, { ...report(ref, { usage }), holds: [] }, sub);
    expect(done.statusCode, JSON.stringify(done.body)).toBe(200);
    await h.settleJobChanges();
    expect(await h.deps.accounting.taskCost(taskId)).toEqual({ usd: HOURLY_USD, attempts: 1 });

    // Both queues have room again: the round sends to the free site only.
    const round = await dispatchRound();
    expect(round?.released).toEqual({ [TEST_SITE]: 1 });
    expect(round?.overBudget).toEqual([taskId]);
    expect(await h.queueDepth(PAID)).toBe(0);
    expect((await h.receiveJobMessages(1, { taskId })).map((m) => m.siteId)).toEqual([TEST_SITE]);
    expect((await dispatchRound())?.released).toEqual({ [TEST_SITE]: 1 });
    expect(await h.queueDepth(PAID)).toBe(0);

    const explanation = await why(taskId);
    // Three jobs in flight (the free site's three), each expected to cost the mean of $0.06.
    expect(explanation.findings).toContain(
      `Budget: $0.06 of $0.05 spent (+ $0.18 expected for 3 jobs in flight): its jobs go to no paid site (${PAID}) any more.`,
    );
    expect(explanation.sites.find((s) => s.siteId === PAID)).toMatchObject({
      chosen: true,
      filter: 'budget',
      rejected: expect.stringContaining("the task's budget is spent"),
    });
    expect(explanation.sites.find((s) => s.siteId === TEST_SITE)?.filter).toBeUndefined();
  });
});
