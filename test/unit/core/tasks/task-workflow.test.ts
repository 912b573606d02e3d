import { describe, expect, it } from 'vitest';
import { NoSiteError, NotFoundError } from '#core/errors.ts';
import { releaseFinishedTask } from '#core/tasks/release-finished-task.ts';
import { submitTask } from '#core/tasks/submit-task.ts';
import { emptyJobCounts, type JobCounts, type Task, type TaskState } from '#core/tasks/task.ts';
import { parseTaskSpec } from '#core/tasks/task-spec.ts';
import {
  describeError,
  enqueueJobs,
  failTask,
  finalizeTask,
  splitTask,
  waitForJobs,
} from '#core/tasks/task-workflow.ts';
import { DEFAULT_START, inMemoryDeps } from '#test/support/in-memory-ports.ts';
import { addSite, alice, BIG_SLOT, generationSpec, taskOf } from '../scenario.ts';

describe('splitTask', () => {
  it('moves a submitted task to splitting with the sites brokerage chose', async () => {
    const deps = inMemoryDeps();
    await addSite(deps, { siteId: 'cern', slot: BIG_SLOT });
    await addSite(deps, { siteId: 'bnl', slot: BIG_SLOT });
    await addSite(deps, { siteId: 'down', status: 'offline', slot: BIG_SLOT });
    const { taskId } = await submitTask(deps, alice, generationSpec(5));
    expect(await splitTask(deps, taskId)).toEqual({ nextIndex: 0, done: false });
    const task = await taskOf(deps, taskId);
    expect(task.state).toBe('splitting');
    expect(task.siteIds).toEqual(['bnl', 'cern']);
    expect(task.jobCount).toBe(5);
  });

  it('throws NoSiteError with every site and its reason when no site fits', async () => {
    const deps = inMemoryDeps();
    await addSite(deps, { siteId: 'down', status: 'offline', slot: BIG_SLOT });
    await addSite(deps, { siteId: 'small' });
    const { taskId } = await submitTask(deps, alice, generationSpec(2, { resources: { cores: 4 } }));
    const error = await splitTask(deps, taskId).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NoSiteError);
    expect((error as Error).message).toBe(
      'no site can run the jobs: down (site is offline), small (needs 4 cores, slots have 1)',
    );
    expect((await taskOf(deps, taskId)).state).toBe('submitted');
  });

  it('throws NoSiteError when no site is defined', async () => {
    const deps = inMemoryDeps();
    const { taskId } = await submitTask(deps, alice, generationSpec(2));
    await expect(splitTask(deps, taskId)).rejects.toThrow(new NoSiteError('no site is defined'));
  });

  it('resumes where enqueueing stopped when run again', async () => {
    const deps = inMemoryDeps({ settings: { enqueuePageSize: 2 } });
    await addSite(deps);
    const { taskId } = await submitTask(deps, alice, generationSpec(5));
    await splitTask(deps, taskId);
    await enqueueJobs(deps, taskId, 0);
    expect(await splitTask(deps, taskId)).toEqual({ nextIndex: 2, done: false });
    expect((await taskOf(deps, taskId)).history.filter((h) => h.state === 'splitting')).toHaveLength(1);
  });

  it('reports done without brokerage when the task was cancelled', async () => {
    const deps = inMemoryDeps();
    const { taskId } = await submitTask(deps, alice, generationSpec(2));
    await deps.tasks.requestCancel(taskId, DEFAULT_START);
    expect(await splitTask(deps, taskId)).toEqual({ nextIndex: 0, done: true });
    expect((await taskOf(deps, taskId)).state).toBe('submitted');
  });

  it('throws NotFoundError for an unknown task', async () => {
    await expect(splitTask(inMemoryDeps(), 't-nothere')).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('enqueueJobs', () => {
  async function splitTaskOf(jobs: number, pageSize: number) {
    const deps = inMemoryDeps({ settings: { enqueuePageSize: pageSize } });
    await addSite(deps, { siteId: 'bnl', slot: BIG_SLOT });
    await addSite(deps, { siteId: 'cern', slot: BIG_SLOT });
    const { taskId } = await submitTask(deps, alice, generationSpec(jobs));
    await splitTask(deps, taskId);
    return { deps, taskId };
  }

  it('writes one page of queued jobs and sends their messages', async () => {
    const { deps, taskId } = await splitTaskOf(10, 4);
    expect(await enqueueJobs(deps, taskId, 0)).toEqual({ nextIndex: 4, done: false });
    const jobs = deps.jobs.all();
    expect(jobs.map((j) => j.jobIndex)).toEqual([0, 1, 2, 3]);
    expect(jobs[1]).toMatchObject({
      taskId,
      jobId: `${taskId}.1`,
      owner: 'alice',
      state: 'queued',
      attempt: 1,
      failures: 0,
      firstEvent: 10,
      nEvents: 10,
      siteId: 'cern',
      attempts: [],
    });
    expect(deps.queue.sent).toEqual([
      { v: 1, taskId, jobIndex: 0, attempt: 1, siteId: 'bnl' },
      { v: 1, taskId, jobIndex: 1, attempt: 1, siteId: 'cern' },
      { v: 1, taskId, jobIndex: 2, attempt: 1, siteId: 'bnl' },
      { v: 1, taskId, jobIndex: 3, attempt: 1, siteId: 'cern' },
    ]);
  });

  it('moves the task from splitting to running after the first page', async () => {
    const { deps, taskId } = await splitTaskOf(10, 4);
    await enqueueJobs(deps, taskId, 0);
    const task = await taskOf(deps, taskId);
    expect(task.state).toBe('running');
    expect(task.jobsEnqueued).toBe(4);
    expect(task.counts).toEqual({ ...emptyJobCounts(), defined: 6, queued: 4 });
  });

  it('goes page by page to the end, the last page shorter', async () => {
    const { deps, taskId } = await splitTaskOf(10, 4);
    expect(await enqueueJobs(deps, taskId, 0)).toEqual({ nextIndex: 4, done: false });
    expect(await enqueueJobs(deps, taskId, 4)).toEqual({ nextIndex: 8, done: false });
    expect(await enqueueJobs(deps, taskId, 8)).toEqual({ nextIndex: 10, done: true });
    expect(deps.jobs.all()).toHaveLength(10);
    expect(deps.queue.sent).toHaveLength(10);
    const task = await taskOf(deps, taskId);
    expect(task.jobsEnqueued).toBe(10);
    expect(task.counts).toEqual({ ...emptyJobCounts(), queued: 10 });
    expect(task.history.map((h) => h.state)).toEqual(['submitted', 'splitting', 'running']);
  });

  it('sends the messages again but creates nothing twice when a page is replayed', async () => {
    const { deps, taskId } = await splitTaskOf(10, 4);
    await enqueueJobs(deps, taskId, 0);
    await enqueueJobs(deps, taskId, 4);
    const before = deps.jobs.all();
    expect(await enqueueJobs(deps, taskId, 0)).toEqual({ nextIndex: 4, done: false });
    expect(deps.jobs.all()).toEqual(before);
    expect(deps.queue.sent).toHaveLength(12);
    expect(deps.queue.sent.slice(8).map((m) => m.jobIndex)).toEqual([0, 1, 2, 3]);
    const task = await taskOf(deps, taskId);
    expect(task.jobsEnqueued).toBe(8);
    expect(task.history.filter((h) => h.state === 'running')).toHaveLength(1);
  });

  it('does not overwrite a job that moved on when its page is replayed', async () => {
    const { deps, taskId } = await splitTaskOf(2, 2);
    await enqueueJobs(deps, taskId, 0);
    deps.jobs.patch(taskId, 0, { attempt: 2, failures: 1 });
    await enqueueJobs(deps, taskId, 0);
    expect(deps.jobs.all()[0]).toMatchObject({ attempt: 2, failures: 1 });
  });

  it('enqueues nothing once the task was cancelled', async () => {
    const { deps, taskId } = await splitTaskOf(10, 4);
    await deps.tasks.requestCancel(taskId, DEFAULT_START);
    expect(await enqueueJobs(deps, taskId, 0)).toEqual({ nextIndex: 0, done: true });
    expect(deps.jobs.all()).toEqual([]);
    expect(deps.queue.sent).toEqual([]);
  });
});

describe('waitForJobs', () => {
  it('stores the token and keeps it while jobs are not final', async () => {
    const deps = inMemoryDeps();
    await addSite(deps);
    const { taskId } = await submitTask(deps, alice, generationSpec(2));
    await splitTask(deps, taskId);
    await enqueueJobs(deps, taskId, 0);
    await waitForJobs(deps, taskId, 'token-1');
    expect(deps.tasks.waitTokenOf(taskId)).toEqual({ token: 'token-1', released: false });
    expect(deps.workflow.releases).toEqual([]);
  });

  it('releases the token at once, exactly once, when every job is already final', async () => {
    const deps = inMemoryDeps();
    const { taskId } = await submitTask(deps, alice, generationSpec(2));
    await deps.tasks.requestCancel(taskId, DEFAULT_START);
    await waitForJobs(deps, taskId, 'token-1');
    expect(await releaseFinishedTask(deps, taskId)).toBe(false);
    expect(deps.workflow.releases).toEqual([{ token: 'token-1', output: { taskId } }]);
  });

  it('does not release a token again when the same wait step is delivered twice', async () => {
    // Lambda invocations are at least once: a second delivery stores the same token again, which
    // today re-arms it (storeWaitToken removes the taken mark), so it is released twice (see the report).
    const deps = inMemoryDeps();
    const { taskId } = await submitTask(deps, alice, generationSpec(2));
    await deps.tasks.requestCancel(taskId, DEFAULT_START);
    await waitForJobs(deps, taskId, 'token-1');
    await waitForJobs(deps, taskId, 'token-1');
    expect(deps.workflow.releases).toEqual([{ token: 'token-1', output: { taskId } }]);
  });

  it('releases the new token of a restarted execution', async () => {
    const deps = inMemoryDeps();
    const { taskId } = await submitTask(deps, alice, generationSpec(2));
    await deps.tasks.requestCancel(taskId, DEFAULT_START);
    await waitForJobs(deps, taskId, 'token-1');
    await waitForJobs(deps, taskId, 'token-2');
    expect(deps.workflow.releases.map((r) => r.token)).toEqual(['token-1', 'token-2']);
  });

  it('throws NotFoundError for an unknown task', async () => {
    await expect(waitForJobs(inMemoryDeps(), 't-nothere', 'token')).rejects.toBeInstanceOf(NotFoundError);
  });
});

function seededTask(state: TaskState, counts: Partial<JobCounts>, cancelRequested = false): Task {
  return {
    taskId: 't-000001',
    owner: 'alice',
    name: 'gen',
    spec: parseTaskSpec(generationSpec(4)),
    state,
    jobCount: 4,
    jobsEnqueued: 4,
    counts: { ...emptyJobCounts(), ...counts },
    siteIds: ['cern'],
    cancelRequested,
    createdAt: DEFAULT_START,
    updatedAt: DEFAULT_START,
    history: [{ state: 'submitted', at: DEFAULT_START }],
  };
}

describe('finalizeTask', () => {
  it.each([
    ['done', { finished: 4 }, false, undefined],
    ['partial', { finished: 3, failed: 1 }, false, '3 finished, 1 failed, 0 cancelled of 4'],
    ['failed', { failed: 3, cancelled: 1 }, false, '0 finished, 3 failed, 1 cancelled of 4'],
    ['cancelled', { finished: 1, cancelled: 3 }, true, '1 finished, 0 failed, 3 cancelled of 4'],
  ] as const)('ends the task %s from its counts', async (state, counts, cancelRequested, reason) => {
    const deps = inMemoryDeps();
    deps.clock.advance(60_000);
    deps.tasks.seed(seededTask('running', counts, cancelRequested));
    expect(await finalizeTask(deps, 't-000001')).toEqual({ state });
    const task = await taskOf(deps, 't-000001');
    expect(task.state).toBe(state);
    expect(task.reason).toBe(reason);
    expect(task.endedAt).toBe('2026-01-01T00:01:00.000Z');
    expect(task.history.at(-1)?.state).toBe(state);
  });

  it('leaves a final task as it is', async () => {
    const deps = inMemoryDeps();
    deps.tasks.seed(seededTask('failed', { finished: 4 }));
    expect(await finalizeTask(deps, 't-000001')).toEqual({ state: 'failed' });
    expect((await taskOf(deps, 't-000001')).history).toHaveLength(1);
  });

  it('ends a task cancelled before it ran as cancelled', async () => {
    const deps = inMemoryDeps();
    deps.tasks.seed({ ...seededTask('splitting', {}, true), jobsEnqueued: 0 });
    expect(await finalizeTask(deps, 't-000001')).toEqual({ state: 'cancelled' });
    expect((await taskOf(deps, 't-000001')).state).toBe('cancelled');
  });
});

describe('failTask', () => {
  it('fails the task with the message of the Lambda error', async () => {
    const deps = inMemoryDeps();
    deps.tasks.seed(seededTask('submitted', {}));
    const cause = JSON.stringify({
      errorType: 'NoSiteError',
      errorMessage: 'no site is defined',
      trace: ['at x'],
    });
    expect(await failTask(deps, 't-000001', { Error: 'NoSiteError', Cause: cause })).toEqual({
      state: 'failed',
    });
    const task = await taskOf(deps, 't-000001');
    expect(task.state).toBe('failed');
    expect(task.reason).toBe('NoSiteError: no site is defined');
  });

  it('ends a cancelled task as cancelled, not failed', async () => {
    const deps = inMemoryDeps();
    deps.tasks.seed(seededTask('running', {}, true));
    expect(await failTask(deps, 't-000001', { Error: 'States.Timeout' })).toEqual({ state: 'cancelled' });
    expect((await taskOf(deps, 't-000001')).reason).toBe('cancelled by its owner');
  });

  it('leaves a final task as it is', async () => {
    const deps = inMemoryDeps();
    deps.tasks.seed(seededTask('done', { finished: 4 }));
    expect(await failTask(deps, 't-000001', { Error: 'X' })).toEqual({ state: 'done' });
    expect((await taskOf(deps, 't-000001')).state).toBe('done');
  });
});

describe('describeError', () => {
  it('uses errorMessage from a Lambda Cause', () => {
    expect(
      describeError({ Error: 'TransientError', Cause: '{"errorMessage":"throttled","errorType":"X"}' }),
    ).toBe('TransientError: throttled');
  });

  it('uses a plain-text Cause as it is', () => {
    expect(describeError({ Error: 'States.Timeout', Cause: 'the state timed out' })).toBe(
      'States.Timeout: the state timed out',
    );
  });

  it('uses the Cause JSON as it is when it has no errorMessage', () => {
    expect(describeError({ Error: 'E', Cause: '{"other":1}' })).toBe('E: {"other":1}');
  });

  it('uses only the error name when there is no Cause', () => {
    expect(describeError({ Error: 'States.TaskFailed' })).toBe('States.TaskFailed');
  });

  it('says the workflow failed when there is nothing to say', () => {
    expect(describeError(undefined)).toBe('the task workflow failed');
    expect(describeError({})).toBe('the task workflow failed');
  });
});
