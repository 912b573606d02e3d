/**
 * The TaskStore contract (core/tasks/ports.ts), written once and run against every implementation:
 * the in-memory fake the unit tests use and the DynamoDB adapter production uses.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { ConflictError, ValidationError } from '#core/errors.ts';
import { emptyRangeCounters, type RangeCounters } from '#core/event-ranges/range-counts.ts';
import type { JobCounts } from '#core/jobs/job-counts.ts';
import type { BrokerageDecision } from '#core/policies/brokerage-decision.ts';
import type { CountEntry, RangeCountEntry, TaskStore } from '#core/tasks/ports.ts';
import type { TaskSizing } from '#core/tasks/scout-sizing.ts';
import type { ResubmitOrder, Task, TaskHead } from '#core/tasks/task.ts';
import { TaskSpecSchema } from '#core/tasks/task-spec.ts';
import { makeTask, newTaskId } from '../adapters/fixtures.ts';

const AT = '2026-11-25T11:00:00.000Z';
const LATER = '2026-11-25T12:00:00.000Z';

function counts(overrides: Partial<JobCounts>): JobCounts {
  return { defined: 0, queued: 0, running: 0, finished: 0, failed: 0, cancelled: 0, ...overrides };
}

function rangeCounters(overrides: Partial<RangeCounters>): RangeCounters {
  return { ...emptyRangeCounters(), ...overrides };
}

function headOf(task: Task): TaskHead {
  const { spec: _spec, counts: _counts, rangeCounters: _rangeCounters, ...head } = task;
  return head;
}

/** An event-service task of 1000 events in ranges of 10, with 2 consumers, running. */
function eventServiceTask(overrides: Partial<Task> = {}): Task {
  return makeTask({
    spec: TaskSpecSchema.parse({
      name: 'mc-es',
      payload: { command: 'generate' },
      events: 1000,
      outputs: ['events.root'],
      eventService: { rangeSize: 10, consumers: 2 },
    }),
    state: 'running',
    jobCount: 2,
    jobsEnqueued: 2,
    rangeCount: 100,
    events: 1000,
    rangesEnqueued: 0,
    ...overrides,
  });
}

/** Counter entries with consecutive sequence numbers `from`..`to`, each adding one to `running`. */
function entries(from: number, to: number, delta: CountEntry['delta'] = { running: 1 }): CountEntry[] {
  return Array.from({ length: to - from + 1 }, (_, i) => ({ seq: String(from + i), delta }));
}

function uniqueOwner(name: string): string {
  return `${name}-${newTaskId()}`;
}

/** Every page of an owner's listing, following the tokens (at most 20 pages). */
async function allPages(store: TaskStore, owner: string, limit: number) {
  const pages: Awaited<ReturnType<TaskStore['listByOwner']>>[] = [];
  let nextToken: string | undefined;
  do {
    const page = await store.listByOwner(owner, { limit, ...(nextToken === undefined ? {} : { nextToken }) });
    pages.push(page);
    nextToken = page.nextToken;
  } while (nextToken !== undefined && pages.length < 20);
  return pages;
}

/**
 * `makeStore` gives a new, empty store. The tests share one: each works on task ids and owners of
 * its own.
 */
export function describeTaskStoreContract(name: string, makeStore: () => Promise<TaskStore>): void {
  describe(`${name} (TaskStore contract)`, () => {
    let store: TaskStore;
    beforeAll(async () => {
      store = await makeStore();
    });

    describe('create and read', () => {
      it('reads a created task back whole: head, spec, and counts derived from the head', async () => {
        const task = makeTask({ jobCount: 10, jobsEnqueued: 4, siteIds: ['site-a'] });
        await store.create(task);

        expect(await store.get(task.taskId)).toEqual({ ...task, counts: counts({ defined: 6, queued: 4 }) });
        expect(await store.getHead(task.taskId)).toEqual(headOf(task));
        expect(await store.getHead(task.taskId, { consistent: false })).toEqual(headOf(task));
        expect(await store.getSpec(task.taskId)).toEqual(task.spec);
        expect(await store.getProgress(task.taskId)).toEqual({
          ...headOf(task),
          counts: counts({ defined: 6, queued: 4 }),
          rangeCounters: emptyRangeCounters(),
        });
      });

      it('reads the head fields of an event-service task back, with empty range counters', async () => {
        const task = eventServiceTask({ rangesEnqueued: 40 });
        await store.create(task);
        expect(await store.get(task.taskId)).toEqual({
          ...task,
          counts: counts({ queued: 2 }),
          rangeCounters: emptyRangeCounters(),
        });
        expect(await store.getHead(task.taskId)).toEqual(headOf(task));
        expect(await store.getHead(task.taskId)).toMatchObject({
          rangeCount: 100,
          events: 1000,
          rangesEnqueued: 40,
        });
      });

      it('refuses to create a task whose id exists with a ConflictError, keeping the first', async () => {
        const task = makeTask();
        await store.create(task);
        await expect(store.create({ ...task, name: 'other', owner: 'mallory' })).rejects.toBeInstanceOf(
          ConflictError,
        );
        expect(await store.getHead(task.taskId)).toEqual(headOf(task));
      });

      it('answers undefined for a task that does not exist, whatever is read', async () => {
        const taskId = newTaskId();
        expect(await store.get(taskId)).toBeUndefined();
        expect(await store.getHead(taskId)).toBeUndefined();
        expect(await store.getSpec(taskId)).toBeUndefined();
        expect(await store.getProgress(taskId)).toBeUndefined();
      });
    });

    describe('transitions', () => {
      it('applies a transition from a source state once and answers false to its replay', async () => {
        const task = makeTask();
        await store.create(task);

        expect(await store.transition(task.taskId, 'split', { at: AT })).toBe(true);
        const split = await store.getHead(task.taskId);
        expect(split).toMatchObject({ state: 'splitting', updatedAt: AT });
        expect(split?.history).toEqual([...task.history, { state: 'splitting', at: AT }]);

        expect(await store.transition(task.taskId, 'split', { at: LATER })).toBe(false);
        expect(await store.getHead(task.taskId)).toEqual(split);
      });

      it('refuses a transition from a state that is not one of its sources, writing nothing', async () => {
        const task = makeTask();
        await store.create(task);
        expect(await store.transition(task.taskId, 'complete', { at: AT })).toBe(false);
        expect(await store.getHead(task.taskId)).toEqual(headOf(task));
      });

      it('records the sites chosen with a transition', async () => {
        const task = makeTask({ state: 'splitting' });
        await store.create(task);
        expect(await store.transition(task.taskId, 'run', { at: AT, siteIds: ['site-a', 'site-b'] })).toBe(
          true,
        );
        expect(await store.getHead(task.taskId)).toMatchObject({
          state: 'running',
          siteIds: ['site-a', 'site-b'],
        });
      });

      it('records the shares of the sites with them', async () => {
        const task = makeTask();
        await store.create(task);
        await store.transition(task.taskId, 'split', { at: AT, siteIds: ['a', 'b'], siteShares: [250, 750] });
        expect(await store.getHead(task.taskId)).toMatchObject({
          siteIds: ['a', 'b'],
          siteShares: [250, 750],
        });
        expect(await store.get(task.taskId)).toMatchObject({ siteShares: [250, 750] });
      });

      it('sets endedAt and the reason on a final state, after which no event moves the task', async () => {
        const task = makeTask({ state: 'running' });
        await store.create(task);
        expect(await store.transition(task.taskId, 'fail', { at: AT, reason: 'no site' })).toBe(true);
        const failed = await store.getHead(task.taskId);
        expect(failed).toMatchObject({ state: 'failed', reason: 'no site', endedAt: AT, updatedAt: AT });
        expect(failed?.history.at(-1)).toEqual({ state: 'failed', at: AT, reason: 'no site' });

        for (const event of ['cancel', 'complete', 'fail'] as const) {
          expect(await store.transition(task.taskId, event, { at: LATER }), event).toBe(false);
        }
        expect(await store.getHead(task.taskId)).toEqual(failed);
      });

      it('answers false to a transition of a task that does not exist, creating nothing', async () => {
        const taskId = newTaskId();
        expect(await store.transition(taskId, 'split', { at: AT })).toBe(false);
        expect(await store.getHead(taskId)).toBeUndefined();
      });
    });

    describe('brokerage decision', () => {
      function decision(siteIds: string[], at = AT): BrokerageDecision {
        return {
          at,
          sitesConsidered: siteIds.length + 2,
          chosen: siteIds.map((siteId, k) => ({
            siteId,
            weight: 1 / siteIds.length,
            share: k + 1,
            inputs: { maxPilots: 10, busyPilots: 2, freePilots: 8, queuedJobs: 3, throughputFactor: 1 },
          })),
          rejected: [
            {
              siteId: 'down',
              filter: 'status',
              reason: 'site is offline',
              details: { status: 'offline' },
            },
            {
              siteId: 'plain',
              filter: 'features',
              reason: 'lacks tags cvmfs, apptainer',
              details: { missing: ['cvmfs', 'apptainer'] },
            },
          ],
          waived: [],
        };
      }

      it('stores the decision of a submitted task and reads it back whole; a later one replaces it', async () => {
        const task = makeTask();
        await store.create(task);
        expect(await store.getBrokerage(task.taskId)).toBeUndefined();
        expect(await store.recordBrokerage(task.taskId, decision(['a', 'b']))).toBe(true);
        expect(await store.getBrokerage(task.taskId)).toEqual(decision(['a', 'b']));
        // A split step run again before the task moved on brokers again.
        expect(await store.recordBrokerage(task.taskId, decision(['c'], LATER))).toBe(true);
        expect(await store.getBrokerage(task.taskId)).toEqual(decision(['c'], LATER));
      });

      it('refuses to replace the decision once the task moved on, and stores none for no task', async () => {
        const task = makeTask();
        await store.create(task);
        await store.recordBrokerage(task.taskId, decision(['a']));
        await store.transition(task.taskId, 'split', { at: AT, siteIds: ['a'] });
        expect(await store.recordBrokerage(task.taskId, decision(['z'], LATER))).toBe(false);
        expect(await store.getBrokerage(task.taskId)).toEqual(decision(['a']));
        const missing = newTaskId();
        expect(await store.recordBrokerage(missing, decision(['a']))).toBe(false);
        expect(await store.getBrokerage(missing)).toBeUndefined();
        expect(await store.get(missing)).toBeUndefined();
      });

      it('keeps the decision out of the task, its head and its progress', async () => {
        const task = makeTask();
        await store.create(task);
        await store.recordBrokerage(task.taskId, decision(['a']));
        expect(await store.get(task.taskId)).toEqual({ ...task, counts: counts({ defined: 10 }) });
        expect(await store.getHead(task.taskId)).toEqual(headOf(task));
        expect(await store.getProgress(task.taskId)).toEqual({
          ...headOf(task),
          counts: counts({ defined: 10 }),
          rangeCounters: emptyRangeCounters(),
        });
      });

      it('holds the decision of 100 sites', async () => {
        const task = makeTask();
        await store.create(task);
        const big = decision(Array.from({ length: 100 }, (_, i) => `site-${i}`));
        big.rejected = Array.from({ length: 100 }, (_, i) => ({
          siteId: `gone-${i}`,
          filter: 'resources' as const,
          reason: `needs 64000 MB memory, slots have ${i * 100}`,
          details: { resource: 'memoryMB', needs: 64_000, offers: i * 100 },
        }));
        expect(await store.recordBrokerage(task.taskId, big)).toBe(true);
        expect(await store.getBrokerage(task.taskId)).toEqual(big);
      });
    });

    describe('enqueue progress, cancel and the wait token', () => {
      const progress = [
        ['jobsEnqueued', (taskId: string, n: number, at: string) => store.recordEnqueued(taskId, n, at)],
        [
          'rangesEnqueued',
          (taskId: string, n: number, at: string) => store.recordRangesEnqueued(taskId, n, at),
        ],
      ] as const;
      for (const [field, record] of progress) {
        it(`records enqueue progress (${field}) only forwards`, async () => {
          const task = eventServiceTask({ jobCount: 10, jobsEnqueued: 0, rangesEnqueued: 0 });
          await store.create(task);
          await record(task.taskId, 5, AT);
          expect(await store.getHead(task.taskId)).toMatchObject({ [field]: 5, updatedAt: AT });

          await record(task.taskId, 3, LATER);
          await record(task.taskId, 5, LATER);
          expect(await store.getHead(task.taskId)).toMatchObject({ [field]: 5, updatedAt: AT });

          await record(task.taskId, 10, LATER);
          expect(await store.getHead(task.taskId)).toMatchObject({ [field]: 10, updatedAt: LATER });
        });

        it(`records no enqueue progress (${field}) for a task that does not exist, creating nothing`, async () => {
          const taskId = newTaskId();
          await record(taskId, 5, AT);
          expect(await store.getHead(taskId)).toBeUndefined();
        });
      }

      it('requests cancel on a live task, answering the state it saw; jobs that will never run count as cancelled', async () => {
        const task = makeTask({ state: 'running', jobCount: 10, jobsEnqueued: 4 });
        await store.create(task);
        expect(await store.requestCancel(task.taskId, AT)).toBe('running');
        expect(await store.getHead(task.taskId)).toMatchObject({
          state: 'running',
          cancelRequested: true,
          updatedAt: AT,
        });
        expect((await store.get(task.taskId))?.counts).toEqual(counts({ cancelled: 10 }));
        // Asked again (a retried request): same answer, still requested.
        expect(await store.requestCancel(task.taskId, LATER)).toBe('running');
        expect((await store.getHead(task.taskId))?.cancelRequested).toBe(true);
      });

      it('leaves a final task alone on cancel, answering its state; undefined for no task', async () => {
        const task = makeTask({ state: 'done', endedAt: AT });
        await store.create(task);
        expect(await store.requestCancel(task.taskId, LATER)).toBe('done');
        expect(await store.getHead(task.taskId)).toEqual(headOf(task));

        const unknown = newTaskId();
        expect(await store.requestCancel(unknown, LATER)).toBeUndefined();
        expect(await store.getHead(unknown)).toBeUndefined();
      });

      it('steers a live task (pause, resume, priority), answering its state; leaves a final task and no task alone', async () => {
        const task = makeTask({ state: 'running' });
        await store.create(task);
        expect(await store.steer(task.taskId, { paused: true, at: AT })).toBe('running');
        expect(await store.getHead(task.taskId)).toMatchObject({ paused: true, updatedAt: AT });
        expect(await store.steer(task.taskId, { priority: 900, at: LATER })).toBe('running');
        expect(await store.getHead(task.taskId)).toMatchObject({
          paused: true,
          priority: 900,
          updatedAt: LATER,
        });
        expect(await store.steer(task.taskId, { paused: false, at: LATER })).toBe('running');
        expect((await store.getHead(task.taskId))?.paused).toBe(false);

        const done = makeTask({ state: 'done', endedAt: AT });
        await store.create(done);
        expect(await store.steer(done.taskId, { paused: true, at: LATER })).toBe('done');
        expect(await store.getHead(done.taskId)).toEqual(headOf(done));
        const unknown = newTaskId();
        expect(await store.steer(unknown, { paused: true, at: LATER })).toBeUndefined();
        expect(await store.getHead(unknown)).toBeUndefined();
      });

      it('marks a task swept; marking one that does not exist creates nothing', async () => {
        const task = makeTask({ state: 'running', cancelRequested: true });
        await store.create(task);
        await store.markCancelSwept(task.taskId, AT);
        expect(await store.getHead(task.taskId)).toMatchObject({ cancelSwept: true, updatedAt: AT });

        const unknown = newTaskId();
        await store.markCancelSwept(unknown, AT);
        expect(await store.getHead(unknown)).toBeUndefined();
      });

      it('keeps the latest wait token, shown by progress only', async () => {
        const owner = uniqueOwner('wait');
        const task = makeTask({ owner });
        await store.create(task);
        expect(await store.getProgress(task.taskId)).not.toHaveProperty('waitToken');
        await store.storeWaitToken(task.taskId, 'token-1');
        await store.storeWaitToken(task.taskId, 'token-2');

        expect((await store.getProgress(task.taskId))?.waitToken).toBe('token-2');
        expect(await store.get(task.taskId)).not.toHaveProperty('waitToken');
        expect(await store.getHead(task.taskId)).not.toHaveProperty('waitToken');
        const { items } = await store.listByOwner(owner, { limit: 10 });
        expect(items).toHaveLength(1);
        expect(items[0]).not.toHaveProperty('waitToken');

        const unknown = newTaskId();
        await store.storeWaitToken(unknown, 'token-3');
        expect(await store.getProgress(unknown)).toBeUndefined();
      });
    });

    describe('resubmit orders', () => {
      function order(fields: Partial<ResubmitOrder> = {}): ResubmitOrder {
        return {
          order: 1,
          state: 'failed',
          memoryMB: 4000,
          siteIds: ['site-a'],
          sitesGiven: false,
          expected: 2,
          reopened: false,
          at: AT,
          ...fields,
        };
      }
      const REASON = 'resubmitted 2 jobs by its owner';

      it('reopens an ended task: running again, its history says why, its end, reason, outputs, pause and wait token cleared', async () => {
        const task = makeTask({
          state: 'partial',
          jobCount: 10,
          jobsEnqueued: 10,
          reason: '8 finished, 2 failed, 0 cancelled of 10',
          endedAt: AT,
          paused: true,
          outputs: [{ name: 'a.root', key: 'k', bytes: 1 }],
        });
        await store.create(task);
        await store.storeWaitToken(task.taskId, 'old-token');
        const given = order({ reopened: true, at: LATER });
        expect(await store.resubmit(task.taskId, given, { from: 'partial', reason: REASON })).toBe(true);
        const head = await store.getProgress(task.taskId);
        expect(head).toMatchObject({
          state: 'running',
          updatedAt: LATER,
          resubmitOrder: given,
          resubmitOrders: 1,
        });
        for (const cleared of ['endedAt', 'reason', 'outputs', 'paused', 'waitToken'])
          expect(head, cleared).not.toHaveProperty(cleared);
        expect(head?.history.at(-1)).toEqual({ state: 'running', at: LATER, reason: REASON });
      });

      it('gives a running task its order without changing its state or history', async () => {
        const task = makeTask({ state: 'running' });
        await store.create(task);
        expect(await store.resubmit(task.taskId, order(), { from: 'running', reason: REASON })).toBe(true);
        expect(await store.getHead(task.taskId)).toEqual({
          ...headOf(task),
          resubmitOrder: order(),
          resubmitOrders: 1,
          updatedAt: AT,
        });
      });

      it.each([
        ['the state seen is not the state', { state: 'done' as const }, 'partial', order({ reopened: true })],
        ['the task was cancelled', { state: 'cancelled' as const }, 'cancelled', order({ reopened: true })],
        [
          'the running task is being cancelled',
          { state: 'running' as const, cancelRequested: true },
          'running',
          order(),
        ],
        [
          'a running task would be reopened',
          { state: 'running' as const },
          'running',
          order({ reopened: true }),
        ],
        ['an ended task would not be reopened', { state: 'done' as const }, 'done', order()],
        ['the order skips a number', { state: 'running' as const }, 'running', order({ order: 2 })],
        ['the number was given before', { state: 'running' as const, resubmitOrders: 1 }, 'running', order()],
        ['the task is splitting', { state: 'splitting' as const }, 'splitting', order()],
      ] as const)('refuses an order when %s, writing nothing', async (_, fields, from, given) => {
        const task = makeTask(fields);
        await store.create(task);
        expect(await store.resubmit(task.taskId, given, { from, reason: REASON })).toBe(false);
        expect(await store.getHead(task.taskId)).toEqual(headOf(task));
      });

      it('takes one order at a time: a second is refused until the first ends; ending adds its jobs once', async () => {
        const task = makeTask({ state: 'running' });
        await store.create(task);
        expect(await store.resubmit(task.taskId, order(), { from: 'running', reason: REASON })).toBe(true);
        expect(
          await store.resubmit(task.taskId, order({ order: 2 }), { from: 'running', reason: REASON }),
        ).toBe(false);
        expect(await store.endResubmit(task.taskId, { order: 2, jobs: 5, at: LATER })).toBe(false);
        expect(await store.endResubmit(task.taskId, { order: 1, jobs: 2, at: LATER })).toBe(true);
        expect(await store.endResubmit(task.taskId, { order: 1, jobs: 2, at: LATER })).toBe(false);
        const ended = await store.getHead(task.taskId);
        expect(ended).toMatchObject({ jobsResubmitted: 2, resubmitOrders: 1, updatedAt: LATER });
        expect(ended).not.toHaveProperty('resubmitOrder');

        expect(
          await store.resubmit(task.taskId, order({ order: 2 }), { from: 'running', reason: REASON }),
        ).toBe(true);
        expect(await store.endResubmit(task.taskId, { order: 2, jobs: 3, at: LATER })).toBe(true);
        expect(await store.getHead(task.taskId)).toMatchObject({ jobsResubmitted: 5, resubmitOrders: 2 });
      });

      it('counts jobs resubmitted but not yet counted by the feed as queued', async () => {
        const task = makeTask({ state: 'running', jobCount: 4, jobsEnqueued: 4 });
        await store.create(task);
        await store.addJobCounts(task.taskId, 'shard-1', [
          { seq: '1', delta: { recorded: 4, finished: 2, failed: 2 } },
        ]);
        await store.resubmit(task.taskId, order(), { from: 'running', reason: REASON });
        await store.endResubmit(task.taskId, { order: 1, jobs: 2, at: LATER });
        expect((await store.getProgress(task.taskId))?.counts).toEqual(counts({ finished: 2, queued: 2 }));
        await store.addJobCounts(task.taskId, 'shard-1', [
          { seq: '2', delta: { failed: -1, queued: 1, resubmitted: 1 } },
          { seq: '3', delta: { queued: -1, running: 1 } },
        ]);
        expect((await store.get(task.taskId))?.counts).toEqual(
          counts({ finished: 2, queued: 1, running: 1 }),
        );
      });

      it('refuses orders for a task that does not exist, creating nothing', async () => {
        const taskId = newTaskId();
        expect(await store.resubmit(taskId, order(), { from: 'running', reason: REASON })).toBe(false);
        expect(await store.endResubmit(taskId, { order: 1, jobs: 1, at: AT })).toBe(false);
        expect(await store.getHead(taskId)).toBeUndefined();
      });
    });

    describe('job counters', () => {
      /** A running task of 10 jobs, all enqueued. */
      async function runningTask(): Promise<Task> {
        const task = makeTask({ state: 'running', jobCount: 10, jobsEnqueued: 10 });
        await store.create(task);
        return task;
      }

      it('adds the deltas of a batch of changes to the counts every read shows', async () => {
        const owner = uniqueOwner('counts');
        const task = makeTask({ owner, state: 'running', jobCount: 10, jobsEnqueued: 10 });
        await store.create(task);
        await store.addJobCounts(task.taskId, 'shard-1', [
          { seq: '1', delta: { recorded: 1, running: 1 } },
          { seq: '2', delta: { recorded: 1, running: 1 } },
          { seq: '3', delta: { running: -1, finished: 1 } },
        ]);
        const expected = counts({ queued: 8, running: 1, finished: 1 });
        expect((await store.get(task.taskId))?.counts).toEqual(expected);
        expect((await store.getProgress(task.taskId))?.counts).toEqual(expected);
        expect((await store.listByOwner(owner, { limit: 10 })).items[0]?.counts).toEqual(expected);
      });

      it('counts a batch delivered again only once', async () => {
        const task = await runningTask();
        await store.addJobCounts(task.taskId, 'shard-1', entries(1, 3));
        await store.addJobCounts(task.taskId, 'shard-1', entries(1, 3));
        expect((await store.getProgress(task.taskId))?.counts.running).toBe(3);
      });

      it('counts only the new part of a batch that overlaps one applied before', async () => {
        const task = await runningTask();
        await store.addJobCounts(task.taskId, 'shard-1', entries(1, 3));
        await store.addJobCounts(task.taskId, 'shard-1', entries(2, 6));
        expect((await store.getProgress(task.taskId))?.counts.running).toBe(6);
        await store.addJobCounts(task.taskId, 'shard-1', entries(1, 2));
        expect((await store.getProgress(task.taskId))?.counts.running).toBe(6);
      });

      it('counts each feed apart: the same sequence numbers in two feeds both count', async () => {
        const task = await runningTask();
        await store.addJobCounts(task.taskId, 'shard-1', entries(1, 2));
        await store.addJobCounts(task.taskId, 'shard-2', entries(1, 2, { finished: 1 }));
        expect((await store.getProgress(task.taskId))?.counts).toMatchObject({ running: 2, finished: 2 });
      });

      it('orders sequence numbers as numbers of any length, and sorts a batch given out of order', async () => {
        const task = await runningTask();
        const long = '4'.repeat(40);
        await store.addJobCounts(task.taskId, 'shard-1', [
          { seq: '10', delta: { running: 1 } },
          { seq: '9', delta: { running: 1 } },
        ]);
        await store.addJobCounts(task.taskId, 'shard-1', [{ seq: '11', delta: { running: 1 } }]);
        await store.addJobCounts(task.taskId, 'shard-1', [{ seq: long, delta: { running: 1 } }]);
        // 99 comes before the 40-digit number (as a string, '99' > '444…'): applied already.
        await store.addJobCounts(task.taskId, 'shard-1', [{ seq: '99', delta: { running: 1 } }]);
        expect((await store.getProgress(task.taskId))?.counts.running).toBe(4);
      });

      it('moves the position on an entry that changes no counter, so its redelivery is skipped too', async () => {
        const task = await runningTask();
        await store.addJobCounts(task.taskId, 'shard-1', [{ seq: '5', delta: {} }]);
        await store.addJobCounts(task.taskId, 'shard-1', [
          { seq: '5', delta: { running: 1 } },
          { seq: '6', delta: { running: 1 } },
        ]);
        expect((await store.getProgress(task.taskId))?.counts.running).toBe(1);
      });

      it('counts a batch once when two consumers deliver it at the same time', async () => {
        const task = await runningTask();
        await Promise.all([
          store.addJobCounts(task.taskId, 'shard-1', entries(1, 4)),
          store.addJobCounts(task.taskId, 'shard-1', entries(1, 4)),
        ]);
        expect((await store.getProgress(task.taskId))?.counts.running).toBe(4);
      });
    });

    describe('event service', () => {
      /** Range counter entries `from`..`to`, each one range more running. */
      function rangeEntries(
        from: number,
        to: number,
        delta: RangeCountEntry['delta'] = { recorded: 1, running: 1 },
      ): RangeCountEntry[] {
        return Array.from({ length: to - from + 1 }, (_, i) => ({ seq: String(from + i), delta }));
      }

      it('adds range counters, each entry once per feed, summed over feeds, as every read shows', async () => {
        const owner = uniqueOwner('ranges');
        const task = eventServiceTask({ owner });
        await store.create(task);
        await store.addRangeCounts(task.taskId, 'shard-1', rangeEntries(1, 3));
        await store.addRangeCounts(task.taskId, 'shard-1', rangeEntries(1, 3));
        await store.addRangeCounts(task.taskId, 'shard-1', [
          ...rangeEntries(2, 3),
          { seq: '4', delta: { running: -1, finished: 1, eventsFinished: 10 } },
        ]);
        await store.addRangeCounts(task.taskId, 'shard-2', [
          { seq: '1', delta: { recorded: 1, failed: 1 } },
          { seq: '2', delta: { recorded: 1, fatal: 1 } },
        ]);
        await store.addRangeCounts(task.taskId, 'shard-2', [{ seq: '2', delta: { recorded: 1, fatal: 1 } }]);

        const expected = rangeCounters({
          recorded: 5,
          running: 2,
          finished: 1,
          failed: 1,
          fatal: 1,
          eventsFinished: 10,
        });
        expect((await store.getProgress(task.taskId))?.rangeCounters).toEqual(expected);
        expect((await store.get(task.taskId))?.rangeCounters).toEqual(expected);
        const listed = (await store.listByOwner(owner, { limit: 10 })).items[0];
        expect(listed).toMatchObject({ rangeCounters: expected });
      });

      it('keeps range counters and job counters apart, even in feeds of the same name', async () => {
        const task = eventServiceTask();
        await store.create(task);
        await store.addJobCounts(task.taskId, 'shard-1', [{ seq: '1', delta: { recorded: 1, running: 1 } }]);
        await store.addRangeCounts(task.taskId, 'shard-1', rangeEntries(1, 2));
        // Job changes at the same positions still count: the feeds are not the same.
        await store.addJobCounts(task.taskId, 'shard-1', [{ seq: '2', delta: { running: -1, finished: 1 } }]);

        const progress = await store.getProgress(task.taskId);
        expect(progress?.counts).toEqual(counts({ queued: 1, finished: 1 }));
        expect(progress?.rangeCounters).toEqual(rangeCounters({ recorded: 2, running: 2 }));
        expect((await store.get(task.taskId))?.counts).toEqual(counts({ queued: 1, finished: 1 }));
        expect(await store.getHead(task.taskId)).toEqual(headOf(task));
      });

      it('counts ranges of a batch delivered by two consumers at the same time once', async () => {
        const task = eventServiceTask();
        await store.create(task);
        await Promise.all([
          store.addRangeCounts(task.taskId, 'shard-1', rangeEntries(1, 4)),
          store.addRangeCounts(task.taskId, 'shard-1', rangeEntries(1, 4)),
        ]);
        expect((await store.getProgress(task.taskId))?.rangeCounters).toEqual(
          rangeCounters({ recorded: 4, running: 4 }),
        );
      });

      it('starts the merge once: the merge jobs are added to the consumers, and a second start answers false', async () => {
        const task = eventServiceTask();
        await store.create(task);
        expect(await store.startMerge(task.taskId, { consumers: 2, mergeJobs: 3, at: AT })).toBe(true);
        const merging = await store.getHead(task.taskId);
        expect(merging).toMatchObject({ jobCount: 5, mergeJobs: 3, updatedAt: AT });

        expect(await store.startMerge(task.taskId, { consumers: 2, mergeJobs: 3, at: LATER })).toBe(false);
        expect(await store.startMerge(task.taskId, { consumers: 5, mergeJobs: 1, at: LATER })).toBe(false);
        expect(await store.getHead(task.taskId)).toEqual(merging);
        expect((await store.getProgress(task.taskId))?.counts).toEqual(counts({ defined: 3, queued: 2 }));
      });

      it('starts no merge when the job count is not the consumers, or the task does not exist', async () => {
        const task = eventServiceTask({ jobCount: 3 });
        await store.create(task);
        expect(await store.startMerge(task.taskId, { consumers: 2, mergeJobs: 1, at: AT })).toBe(false);
        expect(await store.getHead(task.taskId)).toEqual(headOf(task));

        const unknown = newTaskId();
        expect(await store.startMerge(unknown, { consumers: 2, mergeJobs: 1, at: AT })).toBe(false);
        expect(await store.getHead(unknown)).toBeUndefined();
      });

      it('records the outputs given with a transition', async () => {
        const task = eventServiceTask();
        await store.create(task);
        const outputs = [
          { name: 'events.root', key: `tasks/${task.taskId}/events.root`, bytes: 123, adler32: '0a1b2c3d' },
        ];
        expect(await store.transition(task.taskId, 'complete', { at: AT, outputs })).toBe(true);
        expect(await store.getHead(task.taskId)).toMatchObject({ state: 'done', outputs, endedAt: AT });
        expect((await store.get(task.taskId))?.outputs).toEqual(outputs);
      });
    });

    describe('scouted tasks', () => {
      const SIZING: TaskSizing = {
        unit: 'event',
        measured: {
          scouts: 3,
          finished: 2,
          failed: 1,
          cancelled: 0,
          wallSecPerUnit: 0.25,
          cpuSecPerUnit: 0.2,
          peakRssMB: 420,
        },
        perJob: 2400,
        jobs: 4,
        memoryMB: 600,
        notes: ['sized from 2 of 3 scouts; the others exit code 3 ×1'],
        at: AT,
      };

      /** A running scouted task whose 3 scouts were released. */
      function scoutedTask(overrides: Partial<Task> = {}): Task {
        return makeTask({
          spec: TaskSpecSchema.parse({
            name: 'mc-scouted',
            payload: { command: 'generate' },
            events: 10_000,
            split: { targetWalltimeSec: 600 },
          }),
          state: 'running',
          jobCount: 3,
          jobsEnqueued: 3,
          ...overrides,
        });
      }

      it('records the sizing and the jobs it adds in one write, once', async () => {
        const task = scoutedTask();
        await store.create(task);
        expect(await store.recordSizing(task.taskId, { scouts: 3, sizing: SIZING })).toBe(true);
        const sized = await store.getHead(task.taskId);
        expect(sized).toMatchObject({ jobCount: 7, sizing: SIZING, updatedAt: AT });
        expect((await store.getProgress(task.taskId))?.counts).toEqual(counts({ defined: 4, queued: 3 }));

        const again = { ...SIZING, jobs: 9, at: LATER };
        expect(await store.recordSizing(task.taskId, { scouts: 3, sizing: again })).toBe(false);
        expect(await store.recordSizing(task.taskId, { scouts: 7, sizing: again })).toBe(false);
        expect(await store.getHead(task.taskId)).toEqual(sized);
      });

      it('records no sizing on a task that is not running, not at its scouts, or unknown', async () => {
        for (const task of [scoutedTask({ state: 'failed' }), scoutedTask({ jobCount: 4 })]) {
          await store.create(task);
          expect(await store.recordSizing(task.taskId, { scouts: 3, sizing: SIZING })).toBe(false);
          expect(await store.getHead(task.taskId)).toEqual(headOf(task));
        }
        const unknown = newTaskId();
        expect(await store.recordSizing(unknown, { scouts: 3, sizing: SIZING })).toBe(false);
        expect(await store.getHead(unknown)).toBeUndefined();
      });
    });

    describe('listing by owner', () => {
      /** `n` tasks of a new owner, created a minute apart (oldest first); the owner and the tasks. */
      async function tasksOfNewOwner(n: number): Promise<{ owner: string; tasks: Task[] }> {
        const owner = uniqueOwner('lister');
        const tasks = Array.from({ length: n }, (_, i) => {
          const at = new Date(Date.parse('2026-11-20T00:00:00.000Z') + i * 60_000).toISOString();
          return makeTask({ owner, createdAt: at, updatedAt: at });
        });
        for (const task of tasks) await store.create(task);
        await store.create(makeTask({ owner: `${owner}-other` }));
        return { owner, tasks };
      }

      it("lists an owner's tasks newest first, each once across pages of at most the limit", async () => {
        const { owner, tasks } = await tasksOfNewOwner(5);
        const pages = await allPages(store, owner, 2);
        for (const page of pages) expect(page.items.length).toBeLessThanOrEqual(2);
        expect(pages.at(-1)?.nextToken).toBeUndefined();
        const listed = pages.flatMap((p) => p.items);
        expect(listed.map((t) => t.taskId)).toEqual(tasks.map((t) => t.taskId).reverse());
        const newest = tasks.at(-1) as Task;
        expect(listed[0]).toEqual({
          ...headOf(newest),
          counts: counts({ defined: 10 }),
          rangeCounters: emptyRangeCounters(),
        });
      });

      it('gives a full page a token even when nothing follows (the store cannot tell); the next page is empty', async () => {
        const { owner, tasks } = await tasksOfNewOwner(4);
        const pages = await allPages(store, owner, 2);
        expect(pages.map((p) => p.items.length)).toEqual([2, 2, 0]);
        expect(pages.map((p) => p.nextToken === undefined)).toEqual([false, false, true]);
        expect(pages.flatMap((p) => p.items).map((t) => t.taskId)).toEqual(
          tasks.map((t) => t.taskId).reverse(),
        );
      });

      it('answers an empty page without a token for an owner without tasks', async () => {
        expect(await store.listByOwner(uniqueOwner('nobody'), { limit: 10 })).toEqual({ items: [] });
      });

      it('refuses a page token that no listing gave, or one of another owner, as a ValidationError on nextToken', async () => {
        const { owner } = await tasksOfNewOwner(3);
        const page = await store.listByOwner(owner, { limit: 1 });
        expect(page.nextToken).toEqual(expect.any(String));
        const tries: Array<[string, string]> = [
          [owner, 'not a token'],
          [owner, 'e30'],
          [owner, Buffer.from('[1]').toString('base64url')],
          [`${owner}-other`, page.nextToken as string],
        ];
        for (const [who, nextToken] of tries) {
          const error = await store.listByOwner(who, { limit: 1, nextToken }).catch((e: unknown) => e);
          expect(error, nextToken).toBeInstanceOf(ValidationError);
          expect((error as ValidationError).issues.map((i) => i.field)).toEqual(['nextToken']);
        }
      });
    });

    describe('idempotency keys', () => {
      const hold = (key: string, now = AT, expiresAt = LATER) => ({ key, now, expiresAt });

      it('creates the task and takes the key; a second task with the key is not stored and the first is named', async () => {
        const owner = uniqueOwner('idem');
        const first = makeTask({ owner });
        expect(await store.create(first, hold('k-1'))).toEqual({ created: true });
        const second = makeTask({ owner });
        expect(await store.create(second, hold('k-1'))).toEqual({ created: false, taskId: first.taskId });
        expect(await store.get(second.taskId)).toBeUndefined();
        expect((await store.listByOwner(owner, { limit: 10 })).items.map((t) => t.taskId)).toEqual([
          first.taskId,
        ]);
      });

      it('keeps keys apart per owner and per key', async () => {
        const alice = uniqueOwner('idem-a');
        const bob = uniqueOwner('idem-b');
        const tasks = [makeTask({ owner: alice }), makeTask({ owner: bob }), makeTask({ owner: alice })];
        expect(await store.create(tasks[0] as Task, hold('same'))).toEqual({ created: true });
        expect(await store.create(tasks[1] as Task, hold('same'))).toEqual({ created: true });
        expect(await store.create(tasks[2] as Task, hold('other'))).toEqual({ created: true });
      });

      it('lets a key be taken again once its hold expired', async () => {
        const owner = uniqueOwner('idem-exp');
        const first = makeTask({ owner });
        await store.create(first, hold('k', AT, LATER));
        const second = makeTask({ owner });
        const after = '2026-11-25T12:00:01.000Z';
        expect(await store.create(second, hold('k', after, '2026-11-26T12:00:01.000Z'))).toEqual({
          created: true,
        });
        const third = makeTask({ owner });
        expect(await store.create(third, hold('k', after))).toEqual({
          created: false,
          taskId: second.taskId,
        });
      });

      it('releases a key only for the task it holds', async () => {
        const owner = uniqueOwner('idem-rel');
        const first = makeTask({ owner });
        await store.create(first, hold('k'));
        await store.releaseIdempotencyKey(owner, 'k', newTaskId());
        const second = makeTask({ owner });
        expect(await store.create(second, hold('k'))).toEqual({ created: false, taskId: first.taskId });
        await store.releaseIdempotencyKey(owner, 'k', first.taskId);
        expect(await store.create(second, hold('k'))).toEqual({ created: true });
        await store.releaseIdempotencyKey(owner, 'never-taken', first.taskId);
      });
    });
  });
}
