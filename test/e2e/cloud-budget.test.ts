/**
 * A task budget on the local stack: a free site (`local`, pilot processes from its factory) and a
 * paid cloud site whose pilots run on fake EC2 instances started by the provisioner. The task's
 * attempts at the paid site cost their pilot's price; once that reaches the budget, dispatch sends
 * no more of its jobs there, the rest run at the free site, and `gluon why` says the budget is why.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskExplanation } from '#core/api/tasks.ts';
import type { LocalStack } from '#local/stack.ts';
import { Api, gluonCli, shellTask, startTestStack, waitFor } from '#test/support/e2e.ts';

const PAID = 'cloud-paid';
/** Far less than one attempt of a few seconds on an m5.large costs: the first attempt there spends it. */
const BUDGET_USD = 0.000_001;

let stack: LocalStack;
let api: Api;

beforeAll(async () => {
  stack = await startTestStack('cloud-budget', {
    pilots: 1,
    inMemory: true,
    provisionEverySec: 1,
    pilotIdleExitSec: 10,
    // The free site's pilot offers what the jobs need, not the whole (shared, busy) machine: its memory check passes.
    pilotArgs: ['--memory-mb', '2048'],
  });
  api = new Api(stack.apiUrl, stack.userToken);
  const operator = new Api(stack.apiUrl, await stack.mintToken({ sub: 'operator', scopes: ['gluon.admin'] }));
  const put = await operator.request('PUT', `/sites/${PAID}`, {
    kind: 'cloud',
    slot: { cores: 2, memoryMB: 4096, walltimeSec: 3600, diskMB: 10_000 },
    maxPilots: 2,
    // At most one job waits in its queue: what was released before the budget was spent stays small.
    maxQueued: 1,
    provisioning: {
      type: 'ec2',
      instanceTypes: [{ type: 'm5.large' }],
      market: 'on-demand',
      subnets: ['subnet-0a1b2c3d'],
      maxInstances: 2,
      maxHourlyUsd: 1,
      idleExitSec: 5,
    },
  });
  expect(put.status, JSON.stringify(put.body)).toBe(200);
});

afterAll(async () => {
  await stack?.stop();
});

describe('a task with a budget on a free and a paid site', () => {
  it('stops using the paid site once its cost reaches the budget, and why says so', async () => {
    const taskId = await api.submit(
      shellTask('budgeted', 'sleep 3', {
        events: 12,
        resources: { cores: 1, memoryMB: 1024, walltimeSec: 120, diskMB: 100 },
        budget: { usd: BUDGET_USD },
      }),
    );
    // The paid site's first attempt ends (and is priced) while most jobs still wait.
    const firstPaid = await waitFor(
      async () => {
        const jobs = await api.jobsWithAttempts(taskId);
        return jobs.flatMap((j) => j.attempts ?? []).find((a) => a.siteId === PAID && a.state === 'finished');
      },
      { what: 'an attempt to finish at the paid site', timeoutMs: 120_000 },
    );
    // While its jobs run at the free site, why says the budget keeps them off the paid one.
    const why = await waitFor(
      async () => {
        const answer: TaskExplanation = await api.client.call('explainTask', { params: { taskId } });
        if (answer.state === 'done')
          throw new Error(`the task ended first: ${JSON.stringify(answer.findings)}`);
        return answer.findings.some(
          (f) => f.startsWith('Budget:') && f.endsWith(`its jobs go to no paid site (${PAID}) any more.`),
        )
          ? answer
          : undefined;
      },
      { what: 'why to say the budget is spent', timeoutMs: 60_000 },
    );
    expect(why.sites.find((s) => s.siteId === PAID)).toMatchObject({ filter: 'budget' });
    const text = await gluonCli(stack, 'why', taskId);
    expect(text).toContain(`its jobs go to no paid site (${PAID}) any more.`);

    const task = await api.finalTask(taskId, 180_000);
    expect(task.state).toBe('done');

    const attempts = (await api.jobsWithAttempts(taskId)).flatMap((j) => j.attempts ?? []);
    const paid = attempts.filter((a) => a.siteId === PAID);
    // After the budget was spent, only what was already released could still run there: the other
    // pilot's job and the one queued job (maxQueued 1).
    const startedAfter = paid.filter((a) => a.startedAt > firstPaid.endedAt);
    expect(startedAfter.length).toBeLessThanOrEqual(2);
    expect(paid.length).toBeLessThanOrEqual(4);
    expect(
      attempts.filter((a) => a.siteId === 'local' && a.state === 'finished').length,
    ).toBeGreaterThanOrEqual(8);
  });
});
