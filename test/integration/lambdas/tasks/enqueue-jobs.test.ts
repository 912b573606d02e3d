import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '#core/jobs/job.ts';
import { createHandler } from '#lambdas/tasks/enqueue-jobs/handler.ts';
import { createHandler as splitTaskHandler } from '#lambdas/tasks/split-task/handler.ts';
import { createHandlerHarness, type HandlerHarness, invoke } from '#test/support/handler-harness.ts';
import { generationSpec, submitTask } from '../task-flow.ts';

const PAGE = 4;
let h: HandlerHarness;

beforeAll(async () => {
  h = await createHandlerHarness({ settings: { enqueuePageSize: PAGE } });
});

afterAll(async () => {
  await h?.close();
});

function enqueue(taskId: string, nextIndex: number) {
  return invoke(createHandler(h.deps), { taskId, nextIndex }, 'enqueue-jobs');
}

async function splitTask(jobs: number): Promise<string> {
  const taskId = await submitTask(h, generationSpec(jobs));
  expect(await invoke(splitTaskHandler(h.deps), { taskId })).toEqual({ nextIndex: 0, done: false });
  return taskId;
}

async function allJobs(taskId: string): Promise<Job[]> {
  return (await h.deps.jobs.listByTask(taskId, {}, { limit: 1000 })).items;
}

describe('enqueue-jobs handler', () => {
  it('writes the jobs page by page and sends every message to the site queue', async () => {
    const taskId = await splitTask(10);

    expect(await enqueue(taskId, 0)).toEqual({ nextIndex: 4, done: false });
    let task = await h.deps.tasks.get(taskId);
    expect(task).toMatchObject({ state: 'running', jobsEnqueued: 4 });
    expect(task?.counts).toMatchObject({ defined: 6, queued: 4 });
    expect((await allJobs(taskId)).map((j) => j.jobIndex)).toEqual([0, 1, 2, 3]);

    expect(await enqueue(taskId, 4)).toEqual({ nextIndex: 8, done: false });
    expect(await enqueue(taskId, 8)).toEqual({ nextIndex: 10, done: true });

    task = await h.deps.tasks.get(taskId);
    expect(task).toMatchObject({ state: 'running', jobCount: 10, jobsEnqueued: 10 });
    expect(task?.counts).toMatchObject({ defined: 0, queued: 10, starting: 0 });
    expect(task?.history.map((c) => c.state)).toEqual(['submitted', 'splitting', 'running']);

    const jobs = await allJobs(taskId);
    expect(jobs).toHaveLength(10);
    for (const job of jobs) {
      expect(job).toMatchObject({
        jobId: `${taskId}.${job.jobIndex}`,
        owner: 'alice',
        state: 'queued',
        attempt: 1,
        failures: 0,
        siteId: 'test-site',
        firstEvent: job.jobIndex * 100,
        nEvents: 100,
        attempts: [],
      });
    }

    const messages = await h.receiveJobMessages(10);
    expect(messages).toEqual(
      Array.from({ length: 10 }, (_, jobIndex) => ({
        v: 1,
        taskId,
        jobIndex,
        attempt: 1,
        siteId: 'test-site',
      })),
    );
    expect(await h.queueDepth()).toBe(0);
  });

  it('creates nothing twice when a page is replayed, and sends its messages again', async () => {
    const taskId = await splitTask(6);
    await enqueue(taskId, 0);
    await enqueue(taskId, 4);
    await h.receiveJobMessages(6);
    const before = await allJobs(taskId);
    const taskBefore = await h.deps.tasks.get(taskId);
    h.clock.advance(60_000);

    // The step is retried after its first run wrote the jobs (e.g. a timeout after the writes).
    expect(await enqueue(taskId, 0)).toEqual({ nextIndex: 4, done: false });

    expect(await allJobs(taskId)).toEqual(before);
    const taskAfter = await h.deps.tasks.get(taskId);
    expect(taskAfter?.jobsEnqueued).toBe(6);
    expect(taskAfter?.counts).toEqual(taskBefore?.counts);
    expect(taskAfter?.history).toEqual(taskBefore?.history);
    // A replayed page heals a send that was lost; duplicates are no-ops for pilots (claims are fenced).
    expect(await h.receiveJobMessages(4)).toEqual(
      [0, 1, 2, 3].map((jobIndex) => ({ v: 1, taskId, jobIndex, attempt: 1, siteId: 'test-site' })),
    );
    expect(await h.queueDepth()).toBe(0);
  });

  it('spreads the jobs over the brokered sites and sends each to its own site queue', async () => {
    const zz = await h.addSite({ siteId: 'zz-site' });
    const taskId = await splitTask(4);
    expect((await h.deps.tasks.get(taskId))?.siteIds).toEqual(['test-site', 'zz-site']);
    await enqueue(taskId, 0);

    const jobs = await allJobs(taskId);
    expect(jobs.map((j) => j.siteId)).toEqual(['test-site', 'zz-site', 'test-site', 'zz-site']);
    expect((await h.receiveJobMessages(2)).map((m) => [m.jobIndex, m.siteId])).toEqual([
      [0, 'test-site'],
      [2, 'test-site'],
    ]);
    expect((await h.receiveJobMessages(2, { siteId: 'zz-site' })).map((m) => [m.jobIndex, m.siteId])).toEqual(
      [
        [1, 'zz-site'],
        [3, 'zz-site'],
      ],
    );
    // Back to one site for the other tests.
    await h.deps.sites.put({ ...zz, status: 'offline' });
  });

  it('writes and sends nothing for a task being cancelled', async () => {
    const taskId = await splitTask(3);
    await h.deps.tasks.requestCancel(taskId, h.clock.now().toISOString());
    expect(await enqueue(taskId, 0)).toEqual({ nextIndex: 0, done: true });
    expect(await allJobs(taskId)).toEqual([]);
    expect(await h.queueDepth()).toBe(0);
    expect((await h.deps.tasks.get(taskId))?.jobsEnqueued).toBe(0);
  });

  it('rejects bad input by name', async () => {
    await expect(
      invoke(createHandler(h.deps), { taskId: 't-abcdefgh', nextIndex: -1 }),
    ).rejects.toMatchObject({
      name: 'ValidationError',
      issues: [{ field: 'input.nextIndex', message: expect.any(String) }],
    });
    await expect(enqueue('t-unknown00000', 0)).rejects.toMatchObject({ name: 'NotFoundError' });
  });
});
