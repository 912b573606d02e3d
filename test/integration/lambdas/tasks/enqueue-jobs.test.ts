import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler as dispatchHandler } from '#lambdas/policies/dispatch-jobs/handler.ts';
import { createHandler } from '#lambdas/tasks/enqueue-jobs/handler.ts';
import { createHandler as splitTaskHandler } from '#lambdas/tasks/split-task/handler.ts';
import {
  createHandlerHarness,
  type HandlerHarness,
  invoke,
  TEST_SITE,
} from '#test/support/handler-harness.ts';
import { generationSpec, submitTask } from '../task-flow.ts';

let h: HandlerHarness;

beforeAll(async () => {
  h = await createHandlerHarness();
});

afterAll(async () => {
  await h?.close();
});

function enqueue(input: unknown) {
  return invoke(createHandler(h.deps), input as { taskId: string; nextIndex: number }, 'enqueue-jobs');
}

function dispatchRound() {
  return invoke(dispatchHandler(h.deps), {}, 'dispatch-jobs');
}

/** A task of `jobs` jobs, split (brokered); its id. */
async function splitTask(jobs: number): Promise<string> {
  const taskId = await submitTask(h, generationSpec(jobs));
  expect(await invoke(splitTaskHandler(h.deps), { taskId })).toEqual({
    nextIndex: 0,
    done: false,
    eventService: false,
  });
  return taskId;
}

describe('enqueue-jobs handler', () => {
  it('hands the task to dispatch, whose rounds release what the site queue has room for, writing no job', async () => {
    await h.addSite({ siteId: TEST_SITE, maxQueued: 4 });
    try {
      const taskId = await splitTask(10);
      const now = h.clock.advance(1000);

      expect(await enqueue({ taskId, nextIndex: 0 })).toEqual({ nextIndex: 10, done: true });

      const task = await h.deps.tasks.get(taskId);
      expect(task).toMatchObject({ state: 'running', jobsEnqueued: 4, updatedAt: now.toISOString() });
      expect(task?.counts).toMatchObject({ defined: 6, queued: 4 });
      expect(task?.history.map((c) => c.state)).toEqual(['submitted', 'splitting', 'running']);
      expect(await h.deps.jobs.list(taskId, 0, 100)).toEqual({ records: [], more: false });
      expect(await h.receiveJobMessages(4, { taskId })).toEqual(
        [0, 1, 2, 3].map((jobIndex) => ({
          v: 1,
          taskId,
          jobIndex,
          attempt: 1,
          siteId: TEST_SITE,
          sentAt: now.getTime(),
          needs: { cores: 1, memoryMB: 2000 },
        })),
      );
      // Pilots took the messages: the next rounds release the rest.
      expect(await dispatchRound()).toMatchObject({ released: { [TEST_SITE]: 4 } });
      expect((await h.receiveJobMessages(4, { taskId })).map((m) => m.jobIndex)).toEqual([4, 5, 6, 7]);
      expect(await dispatchRound()).toMatchObject({ released: { [TEST_SITE]: 2 }, completed: 1 });
      expect((await h.receiveJobMessages(2, { taskId })).map((m) => m.jobIndex)).toEqual([8, 9]);
      expect((await h.deps.tasks.get(taskId))?.counts).toMatchObject({ defined: 0, queued: 10 });

      // A replayed step keeps the progress and the history.
      const before = await h.deps.tasks.get(taskId);
      expect(await enqueue({ taskId, nextIndex: 0 })).toEqual({ nextIndex: 10, done: true });
      const after = await h.deps.tasks.get(taskId);
      expect(after?.jobsEnqueued).toBe(10);
      expect(after?.history).toEqual(before?.history);
      expect(await h.queueDepth()).toBe(0);
    } finally {
      await h.addSite({ siteId: TEST_SITE });
    }
  });

  it('spreads the jobs over the brokered sites and sends each to its own site queue', async () => {
    const zz = await h.addSite({ siteId: 'zz-site' });
    try {
      const taskId = await splitTask(4);
      expect((await h.deps.tasks.getHead(taskId))?.siteIds).toEqual([TEST_SITE, 'zz-site']);
      await enqueue({ taskId, nextIndex: 0 });

      expect((await h.receiveJobMessages(2, { taskId })).map((m) => [m.jobIndex, m.siteId])).toEqual([
        [0, TEST_SITE],
        [2, TEST_SITE],
      ]);
      expect(
        (await h.receiveJobMessages(2, { taskId, siteId: 'zz-site' })).map((m) => [m.jobIndex, m.siteId]),
      ).toEqual([
        [1, 'zz-site'],
        [3, 'zz-site'],
      ]);
    } finally {
      // Back to one site for the other tests.
      await h.deps.sites.put({ ...zz, status: 'offline' });
    }
  });

  it('sends nothing for a task being cancelled', async () => {
    const taskId = await splitTask(3);
    await h.deps.tasks.requestCancel(taskId, h.clock.now().toISOString());
    const depth = await h.queueDepth();
    expect(await enqueue({ taskId, nextIndex: 0 })).toEqual({ nextIndex: 0, done: true });
    expect(await h.queueDepth()).toBe(depth);
    expect((await h.deps.tasks.getHead(taskId))?.jobsEnqueued).toBe(0);
  });

  it('throws NoSiteError for a task never brokered, sending nothing', async () => {
    const taskId = await submitTask(h, generationSpec(2));
    const depth = await h.queueDepth();
    await expect(enqueue({ taskId, nextIndex: 0 })).rejects.toMatchObject({ name: 'NoSiteError' });
    expect(await h.queueDepth()).toBe(depth);
  });

  it('refuses bad input by name, and an unknown task with NotFoundError', async () => {
    await expect(enqueue({ taskId: 't-abcdefgh', nextIndex: -1 })).rejects.toMatchObject({
      name: 'ValidationError',
      issues: [{ field: 'input.nextIndex', message: expect.any(String) }],
    });
    await expect(enqueue({ taskId: 't-unknown00000', nextIndex: 0 })).rejects.toMatchObject({
      name: 'NotFoundError',
    });
  });
});
