import { describe, expect, it, vi } from 'vitest';
import { SCOPES } from '#core/api/common.ts';
import { ConflictError, ValidationError } from '#core/errors.ts';
import { messageClass } from '#core/jobs/job-message.ts';
import { dispatchJobs } from '#core/policies/dispatch-jobs.ts';
import { getShares, putShares } from '#core/policies/shares-admin.ts';
import { cancelTask } from '#core/tasks/cancel-task.ts';
import { steerTask } from '#core/tasks/steer-task.ts';
import { submitSystemTask } from '#core/tasks/submit-task.ts';
import { type InMemoryDeps, inMemoryDeps } from '#test/support/in-memory-ports.ts';
import {
  addPaidSite,
  addSite,
  alice,
  BIG_SLOT,
  bob,
  costedUsage,
  generationSpec,
  runningTask,
  Workflow,
} from '../scenario.ts';

const admin = { sub: 'operator', scopes: [SCOPES.admin] };
const owner = (p: typeof alice) => ({ ...p, scopes: [...p.scopes, SCOPES.modify] });

/** The owners of the messages sent so far, in order. */
async function ownersSent(deps: InMemoryDeps): Promise<string[]> {
  const owners: string[] = [];
  for (const m of deps.queue.sent) owners.push((await deps.tasks.getHead(m.taskId))?.owner ?? '?');
  return owners;
}

/** Pilots take every message waiting at the site; then a round runs. */
async function drainAndDispatch(deps: InMemoryDeps, siteId = 'cern') {
  while (deps.queue.receive(siteId) !== undefined);
  return dispatchJobs(deps);
}

describe('dispatchJobs', () => {
  it("lets a light user's jobs start in the first rounds while a heavy user's task is queued", async () => {
    const deps = inMemoryDeps();
    await addSite(deps, { siteId: 'cern', slot: BIG_SLOT, maxQueued: 4 });
    await runningTask(deps, generationSpec(200), alice);
    expect(await ownersSent(deps)).toEqual(['alice', 'alice', 'alice', 'alice']);
    await runningTask(deps, generationSpec(20), bob);
    // Bob's task came when the queue was full: the next rounds give him the places, since alice has used 4.
    await drainAndDispatch(deps);
    expect((await ownersSent(deps)).slice(4)).toEqual(['bob', 'bob', 'bob', 'bob']);
    await drainAndDispatch(deps);
    expect((await ownersSent(deps)).slice(8)).toEqual(['alice', 'bob', 'alice', 'bob']);
  });

  it('gives starts in proportion to the shares set, over many rounds', async () => {
    const deps = inMemoryDeps();
    await addSite(deps, { siteId: 'cern', slot: BIG_SLOT, maxQueued: 10 });
    await putShares(deps, admin, {
      groups: [
        { name: 'atlas', share: 80 },
        { name: 'cms', share: 20 },
      ],
      users: [
        { user: 'alice', group: 'atlas' },
        { user: 'bob', group: 'cms' },
      ],
      defaultGroup: 'atlas',
    });
    await runningTask(deps, generationSpec(500), alice);
    await runningTask(deps, generationSpec(500), bob);
    for (let round = 0; round < 20; round++) await drainAndDispatch(deps);
    const owners = await ownersSent(deps);
    const aliceShare = owners.filter((o) => o === 'alice').length / owners.length;
    expect(owners.length).toBeGreaterThanOrEqual(200);
    expect(aliceShare).toBeGreaterThan(0.75);
    expect(aliceShare).toBeLessThan(0.85);
  });

  it('follows a new priority for jobs already submitted, and skips a paused task', async () => {
    const deps = inMemoryDeps();
    await addSite(deps, { siteId: 'cern', slot: BIG_SLOT, maxQueued: 2 });
    const first = await runningTask(deps, generationSpec(50), alice);
    const second = await runningTask(deps, generationSpec(50), alice);
    await steerTask(deps, owner(alice), second, { priority: 900 });
    await drainAndDispatch(deps);
    expect(deps.queue.sent.slice(-2).map((m) => m.taskId)).toEqual([second, second]);
    await steerTask(deps, owner(alice), second, { paused: true });
    await drainAndDispatch(deps);
    expect(deps.queue.sent.slice(-2).map((m) => m.taskId)).toEqual([first, first]);
  });

  it('holds a user at their cap and says so', async () => {
    const deps = inMemoryDeps();
    await addSite(deps, { siteId: 'cern', slot: BIG_SLOT, maxQueued: 10 });
    await putShares(deps, admin, {
      groups: [{ name: 'default', share: 100 }],
      users: [{ user: 'alice', group: 'default', cap: 3 }],
    });
    await runningTask(deps, generationSpec(50), alice);
    expect(deps.queue.sent).toHaveLength(3);
    const report = await drainAndDispatch(deps);
    // The three released are still in flight (no pilot reported them): nothing more is released.
    expect(report.released).toEqual({});
    expect(report.held).toEqual([{ key: 'user#alice', reason: 'cap', cap: 3 }]);
  });

  it('sends nothing for a cancelled task, and a task leaves dispatch when it is cancelled', async () => {
    const deps = inMemoryDeps();
    await addSite(deps, { siteId: 'cern', slot: BIG_SLOT, maxQueued: 2 });
    const taskId = await runningTask(deps, generationSpec(10), alice);
    await cancelTask(deps, alice, taskId);
    expect(await deps.policies.listActive()).toEqual([]);
    expect((await drainAndDispatch(deps)).released).toEqual({});
    expect(deps.queue.sent).toHaveLength(2);
  });

  it('sends nothing to a site that went offline since brokerage, and sends test tasks only to sites in test', async () => {
    const deps = inMemoryDeps();
    await addSite(deps, { siteId: 'cern', slot: BIG_SLOT, maxQueued: 2 });
    await runningTask(deps, generationSpec(10), alice);
    await addSite(deps, { siteId: 'cern', slot: BIG_SLOT, maxQueued: 2, status: 'offline' });
    expect((await drainAndDispatch(deps)).released).toEqual({});
    await addSite(deps, { siteId: 'hc', slot: BIG_SLOT, maxQueued: 5, status: 'test' });
    const { taskId: test } = await submitSystemTask(
      deps,
      'system:site-health',
      generationSpec(8, { siteTest: true }),
    );
    await new Workflow(deps, test).startUntilWait();
    expect(deps.queue.sent.filter((m) => m.taskId === test).map((m) => m.siteId)).toEqual(
      Array(5).fill('hc'),
    );
    await addSite(deps, { siteId: 'hc', slot: BIG_SLOT, maxQueued: 5, status: 'online' });
    expect((await drainAndDispatch(deps, 'hc')).released).toEqual({});
  });

  it("sends each task's jobs to its site's queue of their resource class, and counts every class's queue against the site's room", async () => {
    const deps = inMemoryDeps();
    await addSite(deps, { siteId: 'cern', slot: BIG_SLOT, maxQueued: 6 });
    const multi = await runningTask(
      deps,
      generationSpec(10, { resources: { cores: 4, memoryMB: 8000 } }),
      alice,
    );
    const himem = await runningTask(deps, generationSpec(10, { resources: { memoryMB: 6000 } }), bob);
    // The first task filled the six places; once pilots took them, the next round serves bob too.
    expect(deps.queue.sent.every((m) => m.taskId === multi)).toBe(true);
    await drainAndDispatch(deps);
    const classes = deps.queue.sent.map(
      (m) => `${m.taskId === multi ? 'multi' : 'himem'}:${messageClass(m)}`,
    );
    expect(new Set(classes)).toEqual(new Set(['multi:mcore', 'himem:himem']));
    expect(deps.queue.sent.find((m) => m.taskId === himem)?.needs).toEqual({ cores: 1, memoryMB: 6000 });
    // Six places at the site over both queues, whatever their classes.
    expect(deps.queue.sent).toHaveLength(12);
    expect(await deps.queue.depth('cern', ['mcore', 'himem'])).toBe(6);
    expect(await deps.queue.depth('cern', ['score'])).toBe(0);
    expect((await dispatchJobs(deps)).released).toEqual({});
  });

  it('gives a task over its budget no place at a paid site, and reads no cost of tasks without a budget', async () => {
    const deps = inMemoryDeps();
    await addSite(deps, { siteId: 'cern', slot: BIG_SLOT, maxQueued: 1 });
    await addPaidSite(deps, 'cloud-a', { maxQueued: 1 });
    const reads = vi.spyOn(deps.accounting, 'taskCost');
    const free = await runningTask(deps, generationSpec(20), bob);
    const budgeted = await runningTask(deps, generationSpec(20, { budget: { usd: 1 } }), alice);
    const drainBoth = async () => {
      while (deps.queue.receive('cern') !== undefined);
      while (deps.queue.receive('cloud-a') !== undefined);
      return dispatchJobs(deps);
    };
    const sitesOf = (taskId: string) =>
      new Set(deps.queue.sent.filter((m) => m.taskId === taskId).map((m) => m.siteId));
    for (let round = 0; round < 4; round++) await drainBoth();
    expect(sitesOf(budgeted)).toEqual(new Set(['cern', 'cloud-a']));
    expect(new Set(reads.mock.calls.map(([taskId]) => taskId))).toEqual(new Set([budgeted]));

    // Its attempts cost $1 so far: spent alone reaches the budget.
    await deps.accounting.record(costedUsage(budgeted, 1));
    const before = deps.queue.sent.length;
    for (let round = 0; round < 4; round++) expect((await drainBoth()).overBudget).toEqual([budgeted]);
    const after = deps.queue.sent.slice(before);
    expect(new Set(after.filter((m) => m.taskId === budgeted).map((m) => m.siteId))).toEqual(
      new Set(['cern']),
    );
    // The task without a budget keeps both sites.
    expect(after.filter((m) => m.taskId === free && m.siteId === 'cloud-a').length).toBeGreaterThan(0);
  });

  it('runs one round at a time: a round that finds the lock held asks the holder for one more, and no job is sent twice', async () => {
    const deps = inMemoryDeps();
    await addSite(deps, { siteId: 'cern', slot: BIG_SLOT, maxQueued: 10 });
    await runningTask(deps, generationSpec(10), alice);
    const waiting = await runningTask(deps, generationSpec(5), bob);
    expect(deps.queue.sent.filter((m) => m.taskId === waiting)).toEqual([]);
    while (deps.queue.receive('cern') !== undefined);

    // Two rounds at once (the scheduled one and a task's split): the second finds the first running.
    const [first, second] = await Promise.all([dispatchJobs(deps), dispatchJobs(deps)]);
    expect(second.rounds).toBe(0);
    expect(first.rounds).toBe(2);
    const sent = deps.queue.sent.filter((m) => m.taskId === waiting).map((m) => m.jobIndex);
    expect(sent.sort()).toEqual([0, 1, 2, 3, 4]);
    expect(deps.policies.lock).toBeUndefined();
  });

  it('lets go of the lock when a round fails, so the next round runs', async () => {
    const deps = inMemoryDeps();
    await addSite(deps, { siteId: 'cern', slot: BIG_SLOT });
    await runningTask(deps, generationSpec(2), alice);
    vi.spyOn(deps.policies, 'listActive').mockRejectedValueOnce(new Error('throttled'));
    await expect(dispatchJobs(deps)).rejects.toThrow('throttled');
    expect((await dispatchJobs(deps)).rounds).toBe(1);
  });

  it('counts a release that lost a race to another round as neither progress nor usage', async () => {
    const deps = inMemoryDeps();
    await addSite(deps, { siteId: 'cern', slot: BIG_SLOT, maxQueued: 2 });
    const taskId = await runningTask(deps, generationSpec(10), alice);
    const usageBefore = (await getShares(deps)).usage;
    const [entry] = await deps.policies.listActive();
    // Another round moves the cursor between this round's read and its write.
    const listActive = deps.policies.listActive.bind(deps.policies);
    deps.policies.listActive = async () => {
      const entries = await listActive();
      await deps.policies.advance(taskId, entry?.released ?? 0, 4);
      return entries;
    };
    const report = await drainAndDispatch(deps);
    expect(report.released).toEqual({});
    expect((await deps.tasks.getHead(taskId))?.jobsEnqueued).toBe(2);
    expect((await getShares(deps)).usage).toEqual(usageBefore);
  });
});

describe('putShares', () => {
  it('refuses a tree with a cycle, naming the field, and changes nothing', async () => {
    const deps = inMemoryDeps();
    const attempt = putShares(deps, admin, {
      groups: [
        { name: 'a', parent: 'b', share: 100 },
        { name: 'b', parent: 'a', share: 100 },
      ],
      defaultGroup: 'a',
    });
    await expect(attempt).rejects.toBeInstanceOf(ValidationError);
    expect((await getShares(deps)).version).toBe(0);
  });

  it('stores versions, and refuses a change made from a stale read', async () => {
    const deps = inMemoryDeps();
    const tree = { groups: [{ name: 'default', share: 100 }], halfLifeSec: 3600 };
    expect((await putShares(deps, admin, tree)).version).toBe(1);
    expect((await putShares(deps, admin, { ...tree, expectedVersion: 1 })).version).toBe(2);
    await expect(putShares(deps, admin, { ...tree, expectedVersion: 1 })).rejects.toBeInstanceOf(
      ConflictError,
    );
    expect(await getShares(deps)).toMatchObject({
      version: 2,
      updatedBy: 'operator',
      tree: { halfLifeSec: 3600 },
    });
  });

  it('shows decayed usage per user and group', async () => {
    const deps = inMemoryDeps();
    await addSite(deps, { siteId: 'cern', slot: BIG_SLOT, maxQueued: 4 });
    await runningTask(deps, generationSpec(10), alice);
    const { usage } = await getShares(deps);
    expect(usage).toEqual([
      { kind: 'group', name: 'default', usage: 4 },
      { kind: 'user', name: 'alice', usage: 4 },
    ]);
    deps.clock.advance(86_400_000);
    expect((await getShares(deps)).usage.map((u) => u.usage)).toEqual([2, 2]);
  });
});
