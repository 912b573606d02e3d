import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler } from '#lambdas/tasks/split-task/handler.ts';
import { createHandlerHarness, type HandlerHarness, invoke } from '#test/support/handler-harness.ts';
import { generationSpec, submitTask } from '../task-flow.ts';

let h: HandlerHarness;

beforeAll(async () => {
  h = await createHandlerHarness();
  // A second site that is offline, and one whose slots have less disk.
  await h.addSite({ siteId: 'offline-site', status: 'offline' });
  await h.addSite({ siteId: 'small-site', slot: { diskMB: 5000 } });
});

afterAll(async () => {
  await h?.close();
});

function split(input: unknown) {
  return invoke(createHandler(h.deps), input as { taskId: string }, 'split-task');
}

describe('split-task handler', () => {
  it('moves a submitted task to splitting with the sites brokerage chose', async () => {
    const taskId = await submitTask(h, generationSpec(4));
    h.clock.advance(1000);

    expect(await split({ taskId })).toEqual({ nextIndex: 0, done: false, eventService: false });

    const task = await h.deps.tasks.get(taskId);
    expect(task).toMatchObject({
      state: 'splitting',
      siteIds: ['small-site', 'test-site'],
      jobCount: 4,
      jobsEnqueued: 0,
    });
    expect(task?.history).toEqual([
      { state: 'submitted', at: expect.any(String) },
      { state: 'splitting', at: h.clock.now().toISOString() },
    ]);
    // Splitting writes no job; it stores brokerage's decision with the task.
    expect(await h.deps.jobs.list(taskId, 0, 10)).toEqual({ records: [], more: false });
    expect(task?.siteShares).toEqual([500, 500]);
    expect(await h.deps.tasks.getBrokerage(taskId)).toMatchObject({
      at: h.clock.now().toISOString(),
      sitesConsidered: 3,
      chosen: [
        { siteId: 'small-site', share: 500, inputs: { queuedJobs: 0 } },
        { siteId: 'test-site', share: 500, inputs: { queuedJobs: 0 } },
      ],
      rejected: [{ siteId: 'offline-site', filter: 'status', reason: 'site is offline' }],
    });
  });

  it('is a no-op when run again (a restarted execution)', async () => {
    const taskId = await submitTask(h, generationSpec(2));
    await split({ taskId });
    const before = await h.deps.tasks.get(taskId);
    h.clock.advance(1000);

    expect(await split({ taskId })).toEqual({ nextIndex: 0, done: false, eventService: false });
    expect(await h.deps.tasks.get(taskId)).toEqual(before);
  });

  it('leaves out sites that cannot run the jobs', async () => {
    const taskId = await submitTask(h, generationSpec(2, { resources: { diskMB: 8000 } }));
    await split({ taskId });
    expect((await h.deps.tasks.get(taskId))?.siteIds).toEqual(['test-site']);
  });

  it('throws NoSiteError when sites.allow names no existing site, leaving the task submitted', async () => {
    const taskId = await submitTask(h, generationSpec(2, { sites: { allow: ['nowhere', 'atlantis'] } }));

    const error = await split({ taskId }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).name).toBe('NoSiteError');
    expect((error as Error).message).toMatch(/test-site \(not in sites.allow\)/);

    const task = await h.deps.tasks.get(taskId);
    expect(task?.state).toBe('submitted');
    expect(task?.siteIds).toEqual([]);
    // The decision is kept, so that the failed task can say why.
    expect((await h.deps.tasks.getBrokerage(taskId))?.rejected.map((r) => r.filter)).toEqual([
      'status',
      'lists',
      'lists',
    ]);
  });

  it('resumes where enqueueing stopped when a restarted execution splits again', async () => {
    const taskId = await submitTask(h, generationSpec(5));
    await split({ taskId });
    await h.deps.tasks.recordEnqueued(taskId, 3, h.clock.now().toISOString());
    expect(await split({ taskId })).toEqual({ nextIndex: 3, done: false, eventService: false });
    await h.deps.tasks.recordEnqueued(taskId, 5, h.clock.now().toISOString());
    expect(await split({ taskId })).toEqual({ nextIndex: 5, done: true, eventService: false });
  });

  it('returns done for a task that is already final or being cancelled', async () => {
    const taskId = await submitTask(h, generationSpec(2));
    await h.deps.tasks.requestCancel(taskId, h.clock.now().toISOString());
    expect(await split({ taskId })).toEqual({ nextIndex: 0, done: true, eventService: false });
    expect((await h.deps.tasks.get(taskId))?.state).toBe('submitted');
  });

  it('throws NotFoundError for an unknown task and ValidationError for bad input', async () => {
    await expect(split({ taskId: 't-unknown00000' })).rejects.toMatchObject({ name: 'NotFoundError' });
    await expect(split({ taskId: 'nope' })).rejects.toMatchObject({
      name: 'ValidationError',
      issues: [{ field: 'input.taskId', message: expect.any(String) }],
    });
    await expect(split({})).rejects.toMatchObject({ name: 'ValidationError' });
  });
});
