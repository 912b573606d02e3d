import { describe, expect, it } from 'vitest';
import { type ResubmitTaskRequest, ResubmitTaskRequestSchema } from '#core/api/tasks.ts';
import { ConflictError, fieldIssues, NotFoundError, TransientError, ValidationError } from '#core/errors.ts';
import { killJob } from '#core/jobs/kill-job.ts';
import { PILOT_ERROR_CODES, type PilotErrorCode } from '#core/pilots/pilot-error-codes.ts';
import { placeJob, resubmitJobs, resubmitTask } from '#core/tasks/resubmit-task.ts';
import { finalizeTask } from '#core/tasks/task-workflow.ts';
import { type InMemoryDeps, inMemoryDeps, settleJobChanges, siteOf } from '#test/support/in-memory-ports.ts';
import {
  addPilot,
  addSite,
  alice,
  BIG_SLOT,
  bob,
  claimed,
  complete,
  countsOf,
  generationSpec,
  jobRef,
  recordOf,
  report,
  runningTask,
  taskOf,
  Workflow,
} from '../scenario.ts';

const OK = PILOT_ERROR_CODES.OK;
const OOM = PILOT_ERROR_CODES.MEMORY_EXCEEDED;
/** One attempt each, and no automatic escalation: a job killed for memory fails for good. */
const ONE_TRY = { maxAttempts: 1, retry: { memoryFactor: 1, walltimeFactor: 1 } };

/** Runs attempt `attempt` of each job with the given outcome (undefined: left as it is). */
async function runJobs(
  deps: InMemoryDeps,
  taskId: string,
  pilotId: string,
  outcomes: Array<PilotErrorCode | undefined>,
  attempt = 1,
): Promise<void> {
  for (const [jobIndex, outcome] of outcomes.entries()) {
    if (outcome === undefined) continue;
    await claimed(deps, pilotId, jobRef(taskId, jobIndex, attempt));
    await complete(deps, pilotId, report(jobRef(taskId, jobIndex, attempt), outcome));
  }
  await settleJobChanges(deps);
}

/** A task whose jobs ended with `outcomes`, finalized by its workflow (partial unless all agree). */
async function endedTask(outcomes: PilotErrorCode[] = [OK, OOM, OK]) {
  const deps = inMemoryDeps();
  await addSite(deps);
  const taskId = await runningTask(deps, generationSpec(outcomes.length, ONE_TRY));
  const workflow = new Workflow(deps, taskId);
  await workflow.wait();
  const pilotId = await addPilot(deps);
  await runJobs(deps, taskId, pilotId, outcomes);
  const state = await workflow.afterRelease();
  return { deps, taskId, pilotId, state, workflow };
}

/** A running task of four jobs: 0 finished, 1 failed, 2 running, 3 not started. */
async function runningMix() {
  const deps = inMemoryDeps();
  await addSite(deps);
  const taskId = await runningTask(deps, generationSpec(4, ONE_TRY));
  const workflow = new Workflow(deps, taskId);
  await workflow.wait();
  const pilotId = await addPilot(deps);
  await runJobs(deps, taskId, pilotId, [OK, OOM]);
  await claimed(deps, pilotId, jobRef(taskId, 2));
  await settleJobChanges(deps);
  return { deps, taskId, pilotId, workflow };
}

/** Everything a resubmit could change: the task's head, its job records, workflows started. */
async function snapshot(deps: InMemoryDeps, taskId: string) {
  return {
    head: await deps.tasks.getHead(taskId),
    records: (await deps.jobs.list(taskId, 0, 100)).records,
    started: [...deps.workflow.started],
    releases: deps.workflow.releases.length,
  };
}

async function errorOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('expected a refusal'),
    (error: unknown) => error,
  );
}

describe('resubmitTask on an ended task', () => {
  it('reopens a partial task, queues its failed job with more memory, and the task ends done', async () => {
    const { deps, taskId, pilotId, state, workflow } = await endedTask();
    expect(state).toBe('partial');

    expect(await resubmitTask(deps, alice, taskId, { memoryMB: 4000 })).toEqual({
      taskId,
      state: 'running',
      jobs: 1,
      alreadyResubmitted: 0,
      reopened: true,
      siteIds: ['cern'],
    });
    const reopened = await taskOf(deps, taskId);
    expect(reopened).toMatchObject({ state: 'running', resubmitOrders: 1 });
    expect(reopened.endedAt).toBeUndefined();
    expect(reopened.reason).toBeUndefined();
    expect(reopened.history.at(-1)).toMatchObject({
      state: 'running',
      reason: 'resubmitted 1 job by its owner',
    });
    // The old execution ended: the reopened task has its own, starting at the resubmit step.
    expect(deps.workflow.started).toEqual([taskId, `${taskId}-r1`]);
    expect(deps.queue.sent.filter((m) => m.attempt > 1)).toEqual([]);

    expect(await resubmitJobs(deps, taskId, 0, 0)).toEqual({ nextIndex: 3, done: true, resubmitted: 1 });
    expect(await recordOf(deps, taskId, 1)).toMatchObject({
      state: 'queued',
      attempt: 2,
      failures: 0,
      siteId: 'cern',
      resources: { memoryMB: 4000 },
      resubmitted: { order: 1, attempt: 2 },
      ended: { attempt: 1, state: 'failed', pilotErrorCode: OOM },
    });
    expect((await recordOf(deps, taskId, 1)).pilotErrorCode).toBeUndefined();
    const head = await taskOf(deps, taskId);
    expect(head.resubmitOrder).toBeUndefined();
    expect(head.jobsResubmitted).toBe(1);
    // Until the change feed counted the move, the task does not look ended: the wait holds.
    const second = workflow;
    await second.wait();
    expect(second.release()).toBeUndefined();
    expect(await countsOf(deps, taskId)).toMatchObject({ finished: 2, failed: 0, queued: 1 });

    // The change feed sends the new attempt's message and archives the attempt that ended.
    await settleJobChanges(deps);
    expect(deps.queue.sent.filter((m) => m.attempt > 1)).toEqual([
      expect.objectContaining({ taskId, jobIndex: 1, attempt: 2, siteId: 'cern' }),
    ]);
    expect((await deps.jobs.attempts(taskId, 1)).map((a) => [a.attempt, a.state])).toEqual([[1, 'failed']]);
    expect(await countsOf(deps, taskId)).toMatchObject({ finished: 2, failed: 0, queued: 1 });

    const job = await claimed(deps, pilotId, jobRef(taskId, 1, 2));
    expect(job.resources.memoryMB).toBe(4000);
    await complete(deps, pilotId, report(jobRef(taskId, 1, 2)));
    await settleJobChanges(deps);
    expect(await second.afterRelease()).toBe('done');
    const done = await taskOf(deps, taskId);
    expect(done.counts).toMatchObject({ finished: 3, failed: 0, queued: 0 });
    expect(done.reason).toBeUndefined();
    expect(done.history.map((h) => h.state)).toEqual([
      'submitted',
      'splitting',
      'running',
      'partial',
      'running',
      'done',
    ]);
  });

  it('resubmits finished jobs of an ended task chosen by index, archiving the attempt that finished', async () => {
    const { deps, taskId } = await endedTask([OK, OK, OK]);
    expect((await taskOf(deps, taskId)).state).toBe('done');
    const answer = await resubmitTask(deps, alice, taskId, { jobs: '0,2' });
    expect(answer).toMatchObject({ jobs: 2, reopened: true, state: 'running' });
    await resubmitJobs(deps, taskId, 0, 0);
    await settleJobChanges(deps);
    for (const jobIndex of [0, 2]) {
      expect(await recordOf(deps, taskId, jobIndex)).toMatchObject({ state: 'queued', attempt: 2 });
      expect((await deps.jobs.attempts(taskId, jobIndex)).map((a) => a.state)).toEqual(['finished']);
    }
    expect(await recordOf(deps, taskId, 1)).toMatchObject({ state: 'finished', attempt: 1 });
    expect(await countsOf(deps, taskId)).toMatchObject({ finished: 1, queued: 2 });
  });

  it('resubmits a failed task (none finished) the same way', async () => {
    const { deps, taskId, state } = await endedTask([OOM, OOM]);
    expect(state).toBe('failed');
    expect(await resubmitTask(deps, alice, taskId, { state: 'failed' })).toMatchObject({
      jobs: 2,
      reopened: true,
    });
    expect((await taskOf(deps, taskId)).state).toBe('running');
  });

  it('answers 0 jobs and changes nothing when no job is in the state asked for', async () => {
    const { deps, taskId } = await endedTask();
    const before = await snapshot(deps, taskId);
    expect(await resubmitTask(deps, alice, taskId, { state: 'cancelled' })).toMatchObject({
      jobs: 0,
      reopened: false,
      state: 'partial',
    });
    expect(await snapshot(deps, taskId)).toEqual(before);
  });
});

describe('resubmitTask on a running task', () => {
  it('needs no new execution: the wait step is released to the resubmit step, then waits again', async () => {
    const { deps, taskId, workflow } = await runningMix();
    const started = [...deps.workflow.started];
    expect(await resubmitTask(deps, alice, taskId, {})).toMatchObject({
      jobs: 1,
      reopened: false,
      state: 'running',
    });
    expect(deps.workflow.started).toEqual(started);
    expect(workflow.release()).toEqual({ taskId, sweep: false, resubmit: true });
    expect(await resubmitJobs(deps, taskId, 0, 0)).toMatchObject({ done: true, resubmitted: 1 });
    await workflow.wait();
    expect(workflow.release()).toBeUndefined();
    expect(await recordOf(deps, taskId, 1)).toMatchObject({ state: 'queued', attempt: 2 });
    expect((await taskOf(deps, taskId)).history.map((h) => h.state)).toEqual([
      'submitted',
      'splitting',
      'running',
    ]);
  });

  it('queues a job killed before it started again, with nothing to archive', async () => {
    const { deps, taskId, pilotId } = await runningMix();
    await killJob(deps, alice, taskId, 3);
    await settleJobChanges(deps);
    expect(await resubmitTask(deps, alice, taskId, { state: 'cancelled' })).toMatchObject({ jobs: 1 });
    await resubmitJobs(deps, taskId, 0, 0);
    await settleJobChanges(deps);
    const record = await recordOf(deps, taskId, 3);
    expect(record).toMatchObject({ state: 'queued', attempt: 2, failures: 0 });
    expect(record.ended).toBeUndefined();
    expect(await deps.jobs.attempts(taskId, 3)).toEqual([]);
    await claimed(deps, pilotId, jobRef(taskId, 3, 2));
  });

  it('spreads the jobs over the sites given, round robin by index', async () => {
    const deps = inMemoryDeps();
    await addSite(deps);
    const taskId = await runningTask(deps, generationSpec(4, ONE_TRY));
    await deps.sites.put(siteOf({ siteId: 'desy', slot: BIG_SLOT }));
    const pilotId = await addPilot(deps);
    await runJobs(deps, taskId, pilotId, [OOM, OOM, OOM, OOM]);
    expect(await resubmitTask(deps, alice, taskId, { sites: ['desy', 'cern'] })).toMatchObject({
      jobs: 4,
      siteIds: ['cern', 'desy'],
    });
    await resubmitJobs(deps, taskId, 0, 0);
    const sites = await Promise.all([0, 1, 2, 3].map(async (i) => (await recordOf(deps, taskId, i)).siteId));
    expect(sites).toEqual(['cern', 'desy', 'cern', 'desy']);
  });

  it('goes through the job records page by page, counting each job once', async () => {
    const deps = inMemoryDeps();
    await addSite(deps);
    const jobs = 5002;
    const taskId = await runningTask(deps, generationSpec(jobs, ONE_TRY));
    const at = deps.clock.now().toISOString();
    for (let jobIndex = 0; jobIndex < jobs; jobIndex++) {
      await deps.jobs.update(
        { taskId, jobIndex },
        { set: { state: 'failed', attempt: 1, failures: 1, siteId: 'cern', updatedAt: at } },
        ['absent'],
      );
    }
    await settleJobChanges(deps);
    expect(await resubmitTask(deps, alice, taskId, {})).toMatchObject({ jobs });
    expect(await resubmitJobs(deps, taskId, 0, 0)).toEqual({
      nextIndex: 5000,
      done: false,
      resubmitted: 5000,
    });
    expect((await taskOf(deps, taskId)).resubmitOrder).toBeDefined();
    expect(await resubmitJobs(deps, taskId, 5000, 5000)).toEqual({
      nextIndex: jobs,
      done: true,
      resubmitted: jobs,
    });
    await settleJobChanges(deps);
    const task = await taskOf(deps, taskId);
    expect(task.jobsResubmitted).toBe(jobs);
    expect(task.counts).toMatchObject({ queued: jobs, failed: 0 });
  });
});

describe('resubmitJobs', () => {
  it('counts the jobs an interrupted try queued and queues none twice when the step runs again', async () => {
    const { deps, taskId } = await endedTask([OOM, OOM, OOM]);
    await resubmitTask(deps, alice, taskId, {});
    const update = deps.jobs.update.bind(deps.jobs);
    let writes = 0;
    deps.jobs.update = async (...args) => {
      writes += 1;
      if (writes === 3) throw new TransientError('DynamoDB did not answer');
      return update(...args);
    };
    await expect(resubmitJobs(deps, taskId, 0, 0)).rejects.toBeInstanceOf(TransientError);
    deps.jobs.update = update;
    expect(await resubmitJobs(deps, taskId, 0, 0)).toMatchObject({ done: true, resubmitted: 3 });
    expect((await taskOf(deps, taskId)).jobsResubmitted).toBe(3);
    for (const jobIndex of [0, 1, 2]) {
      expect(await recordOf(deps, taskId, jobIndex)).toMatchObject({ state: 'queued', attempt: 2 });
    }
    // A replay of the last step finds no order any more: nothing moves, nothing is added.
    expect(await resubmitJobs(deps, taskId, 0, 3)).toEqual({ nextIndex: 0, done: true, resubmitted: 3 });
    expect((await taskOf(deps, taskId)).jobsResubmitted).toBe(3);
  });

  it('does nothing for a task cancelled meanwhile', async () => {
    const { deps, taskId } = await runningMix();
    await resubmitTask(deps, alice, taskId, {});
    await deps.tasks.requestCancel(taskId, deps.clock.now().toISOString());
    expect(await resubmitJobs(deps, taskId, 0, 0)).toEqual({ nextIndex: 0, done: true, resubmitted: 0 });
    expect(await recordOf(deps, taskId, 1)).toMatchObject({ state: 'failed', attempt: 1 });
  });
});

describe('a repeated resubmit', () => {
  it('changes nothing while its order is pending, and starts the workflow again if it had not started', async () => {
    const { deps, taskId } = await endedTask();
    deps.workflow.startError = new Error('Step Functions throttled');
    const error = await errorOf(resubmitTask(deps, alice, taskId, { memoryMB: 4000 }));
    expect(error).toBeInstanceOf(TransientError);
    expect((error as Error).message).toContain('give the same resubmit again');
    deps.workflow.startError = undefined;
    expect(await resubmitTask(deps, alice, taskId, { memoryMB: 4000 })).toMatchObject({
      jobs: 0,
      alreadyResubmitted: 1,
      reopened: true,
    });
    expect(deps.workflow.started).toContain(`${taskId}-r1`);
    const task = await taskOf(deps, taskId);
    expect(task.resubmitOrders).toBe(1);
    expect(task.history.filter((h) => h.reason?.startsWith('resubmitted'))).toHaveLength(1);
  });

  it('refuses another resubmit while one is under way (409), changing nothing', async () => {
    const { deps, taskId } = await endedTask();
    await resubmitTask(deps, alice, taskId, { memoryMB: 4000 });
    const before = await snapshot(deps, taskId);
    expect(await errorOf(resubmitTask(deps, alice, taskId, { memoryMB: 8000 }))).toBeInstanceOf(
      ConflictError,
    );
    expect(await snapshot(deps, taskId)).toEqual(before);
  });

  it('leaves jobs an earlier resubmit queued alone and reports them', async () => {
    const { deps, taskId } = await endedTask();
    await resubmitTask(deps, alice, taskId, { jobs: '1' });
    await resubmitJobs(deps, taskId, 0, 0);
    await settleJobChanges(deps);
    const before = await snapshot(deps, taskId);
    expect(await resubmitTask(deps, alice, taskId, { jobs: '1' })).toMatchObject({
      jobs: 0,
      alreadyResubmitted: 1,
      reopened: false,
    });
    expect(await resubmitTask(deps, alice, taskId, { state: 'failed' })).toMatchObject({ jobs: 0 });
    expect(await snapshot(deps, taskId)).toEqual(before);
  });
});

describe('resubmitTask refusals', () => {
  /** Sites besides cern: a small one, and one offline. */
  async function withSites(deps: InMemoryDeps): Promise<void> {
    await deps.sites.put(siteOf({ siteId: 'small', slot: { cores: 1, memoryMB: 2000, walltimeSec: 3600 } }));
    await deps.sites.put(siteOf({ siteId: 'down', status: 'offline', slot: BIG_SLOT }));
  }

  it.each<[string, ResubmitTaskRequest, string, string]>([
    ['a job past the last', { jobs: '1,5' }, 'jobs', 'job 5 does not exist'],
    ['more memory than any slot', { memoryMB: 64_000 }, 'memoryMB', 'at most 32000 MB'],
    ['more walltime than any slot', { walltimeSec: 500_000 }, 'walltimeSec', 'at most 172800 s'],
    ['an unknown site', { sites: ['cern', 'nowhere'] }, 'sites', 'nowhere: no such site'],
    ['an offline site', { sites: ['down'] }, 'sites', 'down: site is offline'],
    [
      'a site too small for the memory',
      { sites: ['small'], memoryMB: 4000 },
      'sites',
      'small: needs 4000 MB',
    ],
  ])(
    'refuses %s on an ended task with a 400 naming %s, changing nothing',
    async (_, request, field, message) => {
      const { deps, taskId } = await endedTask();
      await withSites(deps);
      const before = await snapshot(deps, taskId);
      const error = await errorOf(resubmitTask(deps, alice, taskId, request));
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).issues).toEqual([
        { field, message: expect.stringContaining(message) },
      ]);
      expect(await snapshot(deps, taskId)).toEqual(before);
    },
  );

  it.each([
    ['a job finished while the task runs', '0', 'job 0 finished and the task still runs'],
    ['a running job', '1-2', 'job 2 is running'],
    ['a job that never ran', '3', 'job 3 has not run yet'],
  ])('refuses %s with a 400 naming jobs, changing nothing', async (_, jobs, message) => {
    const { deps, taskId } = await runningMix();
    const before = await snapshot(deps, taskId);
    const error = await errorOf(resubmitTask(deps, alice, taskId, { jobs }));
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues).toEqual([
      { field: 'jobs', message: expect.stringContaining(message) },
    ]);
    expect(await snapshot(deps, taskId)).toEqual(before);
  });

  it("answers 404 for another user's task and changes nothing", async () => {
    const { deps, taskId } = await endedTask();
    const before = await snapshot(deps, taskId);
    expect(await errorOf(resubmitTask(deps, bob, taskId, { memoryMB: 4000 }))).toBeInstanceOf(NotFoundError);
    expect(await snapshot(deps, taskId)).toEqual(before);
  });

  it('refuses a cancelled task (409), saying why', async () => {
    const { deps, taskId } = await runningMix();
    await deps.tasks.requestCancel(taskId, deps.clock.now().toISOString());
    await finalizeTask(deps, taskId);
    const error = await errorOf(resubmitTask(deps, alice, taskId, {}));
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as Error).message).toContain('was cancelled');
  });

  it('refuses an event-service task (409): its ranges are retried on their own', async () => {
    const deps = inMemoryDeps();
    await addSite(deps);
    const taskId = await runningTask(
      deps,
      generationSpec(1, {
        split: {},
        events: 100,
        outputs: ['hits.json'],
        eventService: { rangeSize: 10, consumers: 1 },
      }),
    );
    const error = await errorOf(resubmitTask(deps, alice, taskId, {}));
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as Error).message).toContain('ranges are retried on their own');
  });

  it.each([
    [{ jobs: '3', state: 'failed' }, ['state']],
    [{ jobs: '3,,4' }, ['jobs']],
    [{ state: 'finished' }, ['state']],
    [{ memoryMB: 8 }, ['memoryMB']],
    [{ walltimeSec: 0 }, ['walltimeSec']],
    [{ memoryMB: 1.5 }, ['memoryMB']],
    [{ sites: [] }, ['sites']],
    [{ sites: ['Bad Site'] }, ['sites.0']],
    [{ colour: 'blue' }, ['colour']],
  ])('rejects the body %j at the edge, naming %j', (body, fields) => {
    const result = ResubmitTaskRequestSchema.safeParse(body);
    expect(result.success).toBe(false);
    expect(fieldIssues(result.error?.issues ?? []).map((i) => i.field)).toEqual(fields);
  });
});

describe('placeJob', () => {
  const sites = new Map(
    [
      siteOf({ siteId: 'big', slot: BIG_SLOT }),
      siteOf({ siteId: 'mid', slot: { cores: 8, memoryMB: 8000 } }),
      siteOf({ siteId: 'small', slot: { cores: 8, memoryMB: 3000 } }),
    ].map((s) => [s.siteId, s]),
  );
  const spec = generationSpec(1);

  it.each([
    [
      'keeps its site when it is one of the order',
      { siteId: 'mid' },
      { siteIds: ['big', 'mid'] },
      'mid',
      undefined,
    ],
    [
      'moves by index when its site is not',
      { siteId: 'gone', jobIndex: 3 },
      { siteIds: ['big', 'mid'] },
      'mid',
      undefined,
    ],
    [
      'spreads over named sites',
      { siteId: 'mid', jobIndex: 2 },
      { siteIds: ['big', 'mid'], sitesGiven: true },
      'big',
      undefined,
    ],
    [
      'asks for the new memory',
      { siteId: 'mid' },
      { siteIds: ['big', 'mid'], memoryMB: 6000 },
      'mid',
      { memoryMB: 6000 },
    ],
    [
      'keeps the memory retries raised, on a site that has it',
      { siteId: 'small', resources: { memoryMB: 6000 } },
      { siteIds: ['small', 'mid'] },
      'mid',
      { memoryMB: 6000 },
    ],
    [
      'asks for the task’s memory again when the raised one fits no site of the order',
      { siteId: 'big', resources: { memoryMB: 12_000 } },
      { siteIds: ['small', 'mid'] },
      'small',
      undefined,
    ],
    [
      'the new walltime over the raised memory',
      { siteId: 'big', resources: { memoryMB: 6000 } },
      { siteIds: ['big'], walltimeSec: 7200 },
      'big',
      { memoryMB: 6000, walltimeSec: 7200 },
    ],
  ])('%s', (_, job, order, siteId, resources) => {
    const placed = placeJob({ jobIndex: 0, ...job }, { sitesGiven: false, ...order }, spec, sites);
    expect(placed).toEqual({ siteId, ...(resources === undefined ? {} : { resources }) });
  });
});
