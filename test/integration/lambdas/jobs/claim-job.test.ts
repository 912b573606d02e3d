import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attemptKey } from '#core/jobs/job.ts';
import {
  createHandlerHarness,
  type HandlerHarness,
  issueFields,
  TEST_SITE,
} from '#test/support/handler-harness.ts';
import {
  claim,
  claimBody,
  claimed,
  claimRaw,
  generationSpec,
  nth,
  PILOT_RESOURCES,
  refOf,
  registerPilot,
  report,
  runningTask,
} from '../task-flow.ts';

const LEASE_SEC = 300;
let h: HandlerHarness;
let pilotId: string;
let otherPilotId: string;

beforeAll(async () => {
  h = await createHandlerHarness({ settings: { leaseSec: LEASE_SEC } });
  pilotId = await registerPilot(h, { host: 'wn01.test' });
  otherPilotId = await registerPilot(h, { host: 'wn02.test' });
});

afterAll(async () => {
  await h?.close();
});

describe('claim-job handler', () => {
  it('claims the job a message names: its record is written running under the pilot, and its lease lists it', async () => {
    const { taskId, messages } = await runningTask(h, generationSpec(3));
    const message = nth(messages, 1);
    const now = h.clock.advance(1000);

    const reply = await claim(h, pilotId, refOf(message), { sentAt: message.sentAt });

    expect(reply.statusCode).toBe(200);
    expect(reply.body).toEqual({
      outcome: 'claimed',
      job: {
        taskId,
        jobId: `${taskId}.1`,
        jobIndex: 1,
        attempt: 1,
        firstEvent: 100,
        nEvents: 100,
        payload: {
          command: 'generate',
          args: ['--first', '${firstEvent}', '--n', '${nEvents}'],
          env: {},
          sandbox: [],
        },
        resources: { cores: 1, memoryMB: 2000, walltimeSec: 3600, diskMB: 1000 },
        outputs: ['events.root'],
        outputPrefix: `tasks/${taskId}/jobs/1/attempt-1/`,
        logKey: `tasks/${taskId}/jobs/1/attempt-1/attempt.log`,
      },
    });
    expect(await h.deps.jobs.get(taskId, 1)).toEqual({
      taskId,
      jobIndex: 1,
      state: 'running',
      attempt: 1,
      failures: 0,
      siteId: TEST_SITE,
      pilotId,
      host: 'wn01.test',
      queuedAt: new Date(message.sentAt ?? 0).toISOString(),
      startedAt: now.toISOString(),
      updatedAt: now.toISOString(),
    });
    expect(await h.deps.leases.get(pilotId)).toMatchObject({
      state: 'busy',
      jobs: [`${taskId}.1.1`],
      expiresAt: now.getTime() + LEASE_SEC * 1000,
    });
    // The record counts once the change feed went through it.
    await h.settleJobChanges();
    expect((await h.deps.tasks.get(taskId))?.counts).toMatchObject({ queued: 2, running: 1 });
  });

  it('answers stale to a claim of a job another pilot runs, and claimed again to a replay by its own pilot', async () => {
    const { taskId, messages } = await runningTask(h, generationSpec(1));
    const ref = refOf(nth(messages, 0));
    const first = await claimed(h, pilotId, ref);
    const record = await h.deps.jobs.get(taskId, 0);
    h.clock.advance(1000);

    const other = await claim(h, otherPilotId, ref);
    expect(other.statusCode).toBe(200);
    expect(other.body).toEqual({ outcome: 'stale', reason: 'the job is running at attempt 1' });

    const replay = await claim(h, pilotId, ref);
    expect(replay.body).toEqual({ outcome: 'claimed', job: first });
    expect(await h.deps.jobs.get(taskId, 0)).toEqual(record);
  });

  it('gives the job to exactly one of two pilots claiming it at once', async () => {
    const { taskId, messages } = await runningTask(h, generationSpec(1));
    const ref = refOf(nth(messages, 0));
    const replies = await Promise.all([claim(h, pilotId, ref), claim(h, otherPilotId, ref)]);
    expect(replies.map((r) => r.body.outcome).sort()).toEqual(['claimed', 'stale']);
    const winner = replies[0]?.body.outcome === 'claimed' ? pilotId : otherPilotId;
    expect((await h.deps.jobs.get(taskId, 0))?.pilotId).toBe(winner);
    await h.settleJobChanges();
    expect((await h.deps.tasks.get(taskId))?.counts).toMatchObject({ running: 1, queued: 0 });
  });

  it('answers stale to a message of an attempt not queued, of no job, of no task and of a task ended', async () => {
    const { taskId, messages } = await runningTask(h, generationSpec(1));
    const ref = refOf(nth(messages, 0));

    expect((await claim(h, pilotId, { ...ref, attempt: 2 })).body).toEqual({
      outcome: 'stale',
      reason: 'no attempt 2 of this job is queued',
    });
    expect((await claim(h, pilotId, { ...ref, jobIndex: 7 })).body).toEqual({
      outcome: 'stale',
      reason: 'no such job',
    });
    expect((await claim(h, pilotId, { ...ref, taskId: 't-neversubmitted' })).body).toEqual({
      outcome: 'stale',
      reason: 'no such task',
    });
    expect(await h.deps.jobs.get(taskId, 0)).toBeUndefined();

    const ended = await runningTask(h, generationSpec(1));
    await h.deps.tasks.transition(ended.taskId, 'fail', { at: h.clock.now().toISOString(), reason: 'test' });
    expect((await claim(h, pilotId, refOf(nth(ended.messages, 0)))).body).toEqual({
      outcome: 'stale',
      reason: 'the task is failed',
    });
    expect(await h.deps.jobs.get(ended.taskId, 0)).toBeUndefined();
  });

  it('answers unfit when the job needs more than the pilot offers now, writing nothing', async () => {
    const { taskId, messages } = await runningTask(
      h,
      generationSpec(1, { resources: { walltimeSec: 7200 } }),
    );
    const lease = await h.deps.leases.get(pilotId);

    const reply = await claim(h, pilotId, refOf(nth(messages, 0)), {
      resources: { ...PILOT_RESOURCES, walltimeLeftSec: 3600 },
    });

    expect(reply.body).toEqual({ outcome: 'unfit', reason: 'needs 7200 s walltime, pilot has 3600 s' });
    expect(await h.deps.jobs.get(taskId, 0)).toBeUndefined();
    expect(await h.deps.leases.get(pilotId)).toEqual(lease);
  });

  it('answers cancelled to a claim of a cancelled task, writing no record', async () => {
    const { taskId, messages } = await runningTask(h, generationSpec(2));
    await h.deps.tasks.requestCancel(taskId, h.clock.now().toISOString());

    const reply = await claim(h, pilotId, refOf(nth(messages, 0)));

    expect(reply.body).toEqual({ outcome: 'cancelled', reason: 'the task was cancelled' });
    expect(await h.deps.jobs.get(taskId, 0)).toBeUndefined();
  });

  it('records the report a claim carries, then claims: the lease lists the new attempt only, its kill entry gone', async () => {
    const { taskId, messages } = await runningTask(h, generationSpec(2));
    const pilot = await registerPilot(h, { host: 'wn03.test' });
    const first = refOf(nth(messages, 0));
    await claimed(h, pilot, first);
    await h.deps.leases.addKills(pilot, [`${attemptKey(first)}|cancelled`]);
    const now = h.clock.advance(5000);

    const reply = await claim(h, pilot, refOf(nth(messages, 1)), { report: report(first) });

    expect(reply.statusCode).toBe(200);
    expect(reply.body).toMatchObject({
      outcome: 'claimed',
      job: { taskId, jobIndex: 1, attempt: 1 },
      report: { outcome: 'recorded', jobState: 'finished', attempt: 1 },
    });
    expect(await h.deps.jobs.get(taskId, 0)).toMatchObject({ state: 'finished', endedAt: now.toISOString() });
    expect(await h.deps.jobs.get(taskId, 1)).toMatchObject({ state: 'running', pilotId: pilot });
    expect(await h.deps.leases.get(pilot)).toMatchObject({
      state: 'busy',
      jobs: [`${taskId}.1.1`],
      kill: [],
    });
  });

  it('records the report of a refused claim and leaves the pilot holding what it says it holds', async () => {
    const { taskId, messages } = await runningTask(h, generationSpec(2));
    const pilot = await registerPilot(h, { host: 'wn04.test' });
    const first = refOf(nth(messages, 0));
    await claimed(h, pilot, first);
    await h.deps.tasks.requestCancel(taskId, h.clock.now().toISOString());

    const reply = await claim(h, pilot, refOf(nth(messages, 1)), { report: report(first) });

    expect(reply.body).toEqual({
      outcome: 'cancelled',
      reason: 'the task was cancelled',
      report: { outcome: 'recorded', jobState: 'finished', attempt: 1 },
    });
    expect(await h.deps.leases.get(pilot)).toMatchObject({ state: 'idle', jobs: [] });
  });

  it('leaves a draining pilot draining when a refused claim carries its report', async () => {
    const { taskId, messages } = await runningTask(h, generationSpec(2));
    const pilot = await registerPilot(h, { host: 'wn05.test' });
    const first = refOf(nth(messages, 0));
    await claimed(h, pilot, first);
    await h.deps.leases.renew(pilot, {
      state: 'draining',
      expiresAt: h.clock.now().getTime() + 60_000,
      beatAt: h.clock.now().toISOString(),
      jobsRun: 0,
    });
    await h.deps.tasks.requestCancel(taskId, h.clock.now().toISOString());

    const reply = await claim(h, pilot, refOf(nth(messages, 1)), { report: report(first) });

    expect(reply.body).toMatchObject({ outcome: 'cancelled', report: { outcome: 'recorded' } });
    expect(await h.deps.leases.get(pilot)).toMatchObject({ state: 'draining', jobs: [] });
  });

  it('answers 410 PILOT_GONE to a pilot that never registered and to one that was lost, writing no record', async () => {
    const { taskId, messages } = await runningTask(h, generationSpec(1));
    const ref = refOf(nth(messages, 0));

    const unknown = await claim(h, 'p-notregistered', ref);
    expect(unknown.statusCode).toBe(410);
    expect(unknown.body.error).toMatchObject({
      code: 'PILOT_GONE',
      message: expect.stringContaining('register again'),
    });

    const lost = await registerPilot(h, { host: 'wn05.test' });
    expect(await h.deps.leases.markLost(lost, h.clock.now().getTime() + 3_600_000)).toBeDefined();
    const reply = await claim(h, lost, ref);
    expect(reply.statusCode).toBe(410);
    expect(reply.body.error).toMatchObject({
      code: 'PILOT_GONE',
      message: expect.stringContaining('is lost'),
    });

    expect(await h.deps.jobs.get(taskId, 0)).toBeUndefined();
  });

  it('answers 403 to a pilot token of another site, and the job is still there to claim', async () => {
    const { messages } = await runningTask(h, generationSpec(1));
    const ref = refOf(nth(messages, 0));
    const forbidden = await claim(h, pilotId, ref, { sub: 'pilot:other-site' });
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.body.error.code).toBe('FORBIDDEN');
    expect((await claim(h, pilotId, ref)).body.outcome).toBe('claimed');
  });

  it('answers 400 naming the bad fields of the body, and of the path', async () => {
    const body = await claimRaw(h, pilotId, {
      taskId: 'task-1',
      jobIndex: -1,
      attempt: 0,
      resources: { ...PILOT_RESOURCES, memoryMB: 0 },
      color: 'red',
    });
    expect(body.statusCode).toBe(400);
    expect(body.body.error.code).toBe('INVALID_INPUT');
    expect(issueFields(body.body)).toEqual(['attempt', 'color', 'jobIndex', 'resources.memoryMB', 'taskId']);

    const missing = await claimRaw(h, pilotId, { taskId: 't-abcdefgh', jobIndex: 0, attempt: 1 });
    expect(issueFields(missing.body)).toEqual(['resources']);

    const path = await claimRaw(h, 'pilot-1', claimBody({ taskId: 't-abcdefgh', jobIndex: 0, attempt: 1 }));
    expect(path.statusCode).toBe(400);
    expect(issueFields(path.body)).toEqual(['path.pilotId']);

    const notJson = await claimRaw(h, pilotId, '{"taskId":');
    expect(notJson.statusCode).toBe(400);
    expect(issueFields(notJson.body)).toEqual(['body']);
  });

  it('answers 401 to a token without a subject', async () => {
    const reply = await claimRaw(
      h,
      pilotId,
      claimBody({ taskId: 't-abcdefgh', jobIndex: 0, attempt: 1 }),
      null,
    );
    expect(reply.statusCode).toBe(401);
    expect(reply.body.error.code).toBe('UNAUTHORIZED');
  });
});
