import { describe, expect, it } from 'vitest';
import type { JobsQuery } from '#core/api/tasks.ts';
import { NotFoundError, ValidationError } from '#core/errors.ts';
import { getJob, listJobs } from '#core/jobs/list-jobs.ts';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import { submitTask } from '#core/tasks/submit-task.ts';
import { parseTaskSpec } from '#core/tasks/task-spec.ts';
import { enqueueJobs, splitTask } from '#core/tasks/task-workflow.ts';
import {
  DEFAULT_START,
  type InMemoryDeps,
  inMemoryDeps,
  settleJobChanges,
} from '#test/support/in-memory-ports.ts';
import {
  addPilot,
  addSite,
  alice,
  BIG_SLOT,
  bob,
  claimed,
  complete,
  generationSpec,
  jobRef,
  report,
  runningTask,
  USAGE,
} from '../scenario.ts';

function query(fields: Partial<JobsQuery> = {}): JobsQuery {
  return { limit: 100, ...fields };
}

async function indexes(deps: InMemoryDeps, taskId: string, fields: Partial<JobsQuery>) {
  const page = await listJobs(deps, alice, taskId, query(fields));
  return { indexes: page.items.map((j) => j.jobIndex), nextToken: page.nextToken };
}

/**
 * A task of 10 jobs at two sites whose queues hold 2 jobs each, so dispatch released 4: job 0
 * queued (no record), 1 running, 2 finished, 3 queued again for its attempt 2, 4-9 defined.
 */
async function setup() {
  const deps = inMemoryDeps();
  await addSite(deps, { siteId: 'bnl', slot: BIG_SLOT, maxQueued: 2 });
  await addSite(deps, { siteId: 'cern', slot: BIG_SLOT, maxQueued: 2 });
  const { taskId } = await submitTask(deps, alice, generationSpec(10));
  await splitTask(deps, taskId);
  await enqueueJobs(deps, taskId, 0);
  const pilotId = await addPilot(deps);
  const [one, two, three] = [jobRef(taskId, 1), jobRef(taskId, 2), jobRef(taskId, 3)];
  await claimed(deps, pilotId, one);
  await claimed(deps, pilotId, two, { holds: [one] });
  await complete(deps, pilotId, report(two), [one]);
  await claimed(deps, pilotId, three, { holds: [one] });
  await complete(deps, pilotId, report(three, PILOT_ERROR_CODES.PAYLOAD_FAILED), [one]);
  return { deps, taskId, pilotId };
}

describe('listJobs', () => {
  it("lists every job in index order: recorded jobs in their record's state, the others derived", async () => {
    const { deps, taskId } = await setup();
    const page = await listJobs(deps, alice, taskId, query());
    expect(page.items.map((j) => [j.jobIndex, j.state, j.attempt])).toEqual([
      [0, 'queued', 1],
      [1, 'running', 1],
      [2, 'finished', 1],
      [3, 'queued', 2],
      ...[4, 5, 6, 7, 8, 9].map((i) => [i, 'defined', 1]),
    ]);
    expect(page.nextToken).toBeUndefined();
  });

  it('derives a job without a record from the spec; its site is known at its claim, when it has several', async () => {
    const { deps, taskId } = await setup();
    const { items } = await listJobs(deps, alice, taskId, query({ limit: 1 }));
    expect(items).toEqual([
      {
        jobId: `${taskId}.0`,
        taskId,
        jobIndex: 0,
        state: 'queued',
        attempt: 1,
        firstEvent: 0,
        nEvents: 10,
      },
    ]);
    const fifth = await listJobs(deps, alice, taskId, query({ limit: 1, nextToken: '5' }));
    expect(fifth.items[0]).toEqual({
      jobId: `${taskId}.5`,
      taskId,
      jobIndex: 5,
      state: 'defined',
      attempt: 1,
      firstEvent: 50,
      nEvents: 10,
    });
  });

  it('shows the record of a claimed job, without its bookkeeping fields', async () => {
    const { deps, taskId, pilotId } = await setup();
    const { items } = await listJobs(deps, alice, taskId, query({ limit: 1, nextToken: '1' }));
    expect(items).toEqual([
      {
        jobId: `${taskId}.1`,
        taskId,
        jobIndex: 1,
        state: 'running',
        attempt: 1,
        firstEvent: 10,
        nEvents: 10,
        siteId: 'cern',
        pilotId,
        host: 'wn001.example.org',
        startedAt: DEFAULT_START,
      },
    ]);
  });

  it('pages by job index: the token is the next index, and the last page has none', async () => {
    const { deps, taskId } = await setup();
    expect(await indexes(deps, taskId, { limit: 4 })).toEqual({ indexes: [0, 1, 2, 3], nextToken: '4' });
    expect(await indexes(deps, taskId, { limit: 4, nextToken: '4' })).toEqual({
      indexes: [4, 5, 6, 7],
      nextToken: '8',
    });
    expect(await indexes(deps, taskId, { limit: 4, nextToken: '8' })).toEqual({
      indexes: [8, 9],
      nextToken: undefined,
    });
  });

  it.each([
    ['queued', [0, 3]],
    ['running', [1]],
    ['finished', [2]],
    ['defined', [4, 5, 6, 7, 8, 9]],
    ['failed', []],
    ['cancelled', []],
  ] as const)('lists only the %s jobs when asked for that state', async (state, expected) => {
    const { deps, taskId } = await setup();
    expect(await indexes(deps, taskId, { state })).toEqual({ indexes: expected, nextToken: undefined });
  });

  it('pages through the jobs of one state, the token resuming after the last one given', async () => {
    const { deps, taskId } = await setup();
    expect(await indexes(deps, taskId, { state: 'queued', limit: 1 })).toEqual({
      indexes: [0],
      nextToken: '1',
    });
    expect(await indexes(deps, taskId, { state: 'queued', limit: 1, nextToken: '1' })).toEqual({
      indexes: [3],
      nextToken: '4',
    });
    expect(await indexes(deps, taskId, { state: 'queued', limit: 1, nextToken: '4' })).toEqual({
      indexes: [],
      nextToken: undefined,
    });
    expect(await indexes(deps, taskId, { state: 'defined', limit: 4 })).toEqual({
      indexes: [4, 5, 6, 7],
      nextToken: '8',
    });
  });

  it('shows queued and never enqueued jobs of a cancelled task as cancelled, and running jobs as running', async () => {
    const { deps, taskId } = await setup();
    await deps.tasks.requestCancel(taskId, DEFAULT_START);
    const page = await listJobs(deps, alice, taskId, query());
    expect(page.items.map((j) => j.state)).toEqual([
      'cancelled',
      'running',
      'finished',
      'cancelled',
      ...Array(6).fill('cancelled'),
    ]);
    expect((await indexes(deps, taskId, { state: 'cancelled' })).indexes).toEqual([0, 3, 4, 5, 6, 7, 8, 9]);
    expect((await indexes(deps, taskId, { state: 'queued' })).indexes).toEqual([]);
  });

  it('finds the jobs of a derived state on both sides of the enqueue progress when no record lies between', async () => {
    const deps = inMemoryDeps();
    await addSite(deps, { siteId: 'cern', slot: BIG_SLOT, maxQueued: 4 });
    const { taskId } = await submitTask(deps, alice, generationSpec(10));
    await splitTask(deps, taskId);
    await enqueueJobs(deps, taskId, 0);
    expect((await indexes(deps, taskId, { state: 'defined' })).indexes).toEqual([4, 5, 6, 7, 8, 9]);
    expect((await indexes(deps, taskId, { state: 'queued' })).indexes).toEqual([0, 1, 2, 3]);
    const pilotId = await addPilot(deps);
    await claimed(deps, pilotId, jobRef(taskId, 1));
    expect((await indexes(deps, taskId, { state: 'defined' })).indexes).toEqual([4, 5, 6, 7, 8, 9]);
    expect((await indexes(deps, taskId, { state: 'queued', limit: 2 })).indexes).toEqual([0, 2]);
  });

  it('names the input files of a file job', async () => {
    const deps = inMemoryDeps();
    await addSite(deps);
    const spec = parseTaskSpec({
      name: 'reco',
      payload: { command: 'reco' },
      inputs: { files: [{ name: 'inputs/a.root', adler32: '0a1b2c3d' }, 'inputs/b.root', 'inputs/c.root'] },
      split: { filesPerJob: 2 },
    });
    const taskId = await runningTask(deps, spec);
    const { items } = await listJobs(deps, alice, taskId, query());
    expect(items.map((j) => j.inputFiles)).toEqual([['inputs/a.root', 'inputs/b.root'], ['inputs/c.root']]);
    expect(items[0]).not.toHaveProperty('firstEvent');
  });

  it('finds the few jobs of a state among many records, reading records in batches', async () => {
    const deps = inMemoryDeps();
    await addSite(deps, { siteId: 'cern', slot: BIG_SLOT, maxQueued: 2000 });
    const taskId = await runningTask(deps, generationSpec(1500));
    for (let jobIndex = 0; jobIndex < 1200; jobIndex++) {
      const state = jobIndex === 700 ? 'running' : 'finished';
      await deps.jobs.update(
        { taskId, jobIndex },
        {
          set: {
            state,
            attempt: 1,
            failures: 0,
            siteId: 'cern',
            pilotId: 'p-000001',
            updatedAt: DEFAULT_START,
          },
        },
        ['absent'],
      );
    }
    expect(await indexes(deps, taskId, { state: 'running' })).toEqual({
      indexes: [700],
      nextToken: undefined,
    });
    expect(await indexes(deps, taskId, { state: 'queued', limit: 3 })).toEqual({
      indexes: [1200, 1201, 1202],
      nextToken: '1203',
    });
    const across = await listJobs(deps, alice, taskId, query({ limit: 3, nextToken: '1198' }));
    expect(across.items.map((j) => [j.jobIndex, j.state])).toEqual([
      [1198, 'finished'],
      [1199, 'finished'],
      [1200, 'queued'],
    ]);
    expect(across.nextToken).toBe('1201');
  });

  it.each(['abc', '01', '-1', '1.5', ''])(
    'throws ValidationError naming query.nextToken for the token %j',
    async (token) => {
      const { deps, taskId } = await setup();
      const error = await listJobs(deps, alice, taskId, query({ nextToken: token })).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).issues).toEqual([
        { field: 'query.nextToken', message: 'not a token of this listing' },
      ]);
    },
  );

  it('answers an empty last page for a token past the end', async () => {
    const { deps, taskId } = await setup();
    expect(await listJobs(deps, alice, taskId, query({ nextToken: '10' }))).toEqual({ items: [] });
  });

  it("throws NotFoundError for another user's task and for an unknown task", async () => {
    const { deps, taskId } = await setup();
    await expect(listJobs(deps, bob, taskId, query())).rejects.toBeInstanceOf(NotFoundError);
    await expect(listJobs(deps, alice, 't-999999', query())).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('getJob', () => {
  it('gives a job without a record with no attempts', async () => {
    const { deps, taskId } = await setup();
    expect(await getJob(deps, alice, taskId, 0)).toMatchObject({
      jobIndex: 0,
      state: 'queued',
      attempts: [],
    });
    expect(await getJob(deps, alice, taskId, 9)).toMatchObject({
      jobIndex: 9,
      state: 'defined',
      attempts: [],
    });
  });

  it('gives a finished job its one attempt, taken from its record', async () => {
    const { deps, taskId, pilotId } = await setup();
    const job = await getJob(deps, alice, taskId, 2);
    expect(job.state).toBe('finished');
    expect(job.attempts).toEqual([
      {
        attempt: 1,
        pilotId,
        siteId: 'cern',
        host: 'wn001.example.org',
        state: 'finished',
        startedAt: DEFAULT_START,
        endedAt: DEFAULT_START,
        pilotErrorCode: 0,
        exitCode: 0,
        usage: USAGE,
      },
    ]);
  });

  it('gives a retried job every attempt, oldest first, once the change feed archived the ended ones', async () => {
    const { deps, taskId, pilotId } = await setup();
    await settleJobChanges(deps);
    expect((await getJob(deps, alice, taskId, 3)).attempts?.map((a) => [a.attempt, a.state])).toEqual([
      [1, 'failed'],
    ]);
    const retry = { taskId, jobIndex: 3, attempt: 2 };
    await claimed(deps, pilotId, retry);
    expect((await getJob(deps, alice, taskId, 3)).attempts?.map((a) => a.attempt)).toEqual([1]);
    await complete(deps, pilotId, report(retry));
    await settleJobChanges(deps);
    const job = await getJob(deps, alice, taskId, 3);
    expect(job).toMatchObject({ state: 'finished', attempt: 2 });
    expect(job.attempts?.map((a) => [a.attempt, a.state, a.pilotErrorCode])).toEqual([
      [1, 'failed', PILOT_ERROR_CODES.PAYLOAD_FAILED],
      [2, 'finished', 0],
    ]);
  });

  it('leaves attempts out of the list', async () => {
    const { deps, taskId } = await setup();
    const { items } = await listJobs(deps, alice, taskId, query());
    expect(items.some((j) => 'attempts' in j)).toBe(false);
  });

  it("throws NotFoundError for an index past the task's jobs and for another user's task", async () => {
    const { deps, taskId } = await setup();
    await expect(getJob(deps, alice, taskId, 10)).rejects.toThrow(
      new NotFoundError(`job ${taskId}.10 not found`),
    );
    await expect(getJob(deps, bob, taskId, 0)).rejects.toBeInstanceOf(NotFoundError);
  });
});
