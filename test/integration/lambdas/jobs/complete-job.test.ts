import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorBody, JobRef } from '#core/api/contract.ts';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import { createHandler as waitForJobsHandler } from '#lambdas/tasks/wait-for-jobs/handler.ts';
import {
  createHandlerHarness,
  type HandlerHarness,
  invoke,
  issueFields,
} from '#test/support/handler-harness.ts';
import {
  claimed,
  complete,
  generationSpec,
  heartbeat,
  nth,
  refOf,
  registerPilot,
  report,
  runningTask,
  USAGE,
} from '../task-flow.ts';

let h: HandlerHarness;
let pilotId: string;

beforeAll(async () => {
  h = await createHandlerHarness();
  pilotId = await registerPilot(h);
});

afterAll(async () => {
  await h?.close();
});

/** A running task whose job 0 is claimed and running under `pilotId`. */
async function runningJob(spec = generationSpec(1)): Promise<JobRef> {
  const { messages } = await runningTask(h, spec);
  const first = messages[0];
  if (first === undefined) throw new Error('no message');
  const ref = refOf(first);
  await claimed(h, pilotId, ref);
  const beat = await heartbeat(h, pilotId, { state: 'busy', jobs: [{ ...ref, phase: 'running' }] });
  expect(beat.body.jobs[0]?.action).toBe('continue');
  return ref;
}

const failure = { pilotErrorCode: PILOT_ERROR_CODES.PAYLOAD_FAILED, exitCode: 3, errorMessage: 'exit 3' };

describe('complete-job handler', () => {
  it('records a finished attempt: the job, its attempt history, the task counts and the pilot', async () => {
    const ref = await runningJob();
    const jobsRunBefore = (await h.deps.pilots.get(pilotId))?.jobsRun ?? 0;
    const now = h.clock.advance(60_000);

    const reply = await complete(h, pilotId, report(ref));

    expect(reply.statusCode).toBe(200);
    expect(reply.body).toEqual({ outcome: 'recorded', jobState: 'finished', attempt: 1 });
    const job = await h.deps.jobs.get(ref.taskId, ref.jobIndex);
    expect(job).toMatchObject({
      state: 'finished',
      attempt: 1,
      failures: 0,
      exitCode: 0,
      pilotErrorCode: 0,
      usage: USAGE,
      outputs: report(ref).outputs,
      logKey: report(ref).logKey,
      endedAt: now.toISOString(),
    });
    expect(job).not.toHaveProperty('leaseExpiresAt');
    expect(job?.attempts).toEqual([
      {
        attempt: 1,
        pilotId,
        siteId: 'test-site',
        host: 'wn01.test',
        state: 'finished',
        startedAt: expect.any(String),
        endedAt: now.toISOString(),
        exitCode: 0,
        pilotErrorCode: 0,
        usage: USAGE,
        outputs: report(ref).outputs,
        logKey: report(ref).logKey,
      },
    ]);
    expect((await h.deps.tasks.get(ref.taskId))?.counts).toMatchObject({ running: 0, finished: 1 });
    const pilot = await h.deps.pilots.get(pilotId);
    expect(pilot).toMatchObject({
      state: 'idle',
      jobsRun: jobsRunBefore + 1,
      lastHeartbeatAt: now.toISOString(),
    });
    expect(pilot).not.toHaveProperty('currentJobId');
    // Nothing to run again.
    expect(await h.queueDepth()).toBe(0);
  });

  it('answers stale to a replayed report and changes nothing', async () => {
    const ref = await runningJob();
    await complete(h, pilotId, report(ref));
    const job = await h.deps.jobs.get(ref.taskId, ref.jobIndex);
    const pilot = await h.deps.pilots.get(pilotId);
    h.clock.advance(1000);

    const replay = await complete(h, pilotId, report(ref));
    expect(replay.statusCode).toBe(200);
    expect(replay.body).toEqual({ outcome: 'stale', reason: 'job is finished at attempt 1' });
    expect(await h.deps.jobs.get(ref.taskId, ref.jobIndex)).toEqual(job);
    expect(await h.deps.pilots.get(pilotId)).toEqual(pilot);
    expect((await h.deps.tasks.get(ref.taskId))?.counts).toMatchObject({ finished: 1 });
  });

  it('queues a failed attempt again as attempt 2, with its message in the site queue', async () => {
    const ref = await runningJob(generationSpec(1, { maxAttempts: 3 }));

    const reply = await complete(h, pilotId, report(ref, failure));

    expect(reply.body).toEqual({ outcome: 'recorded', jobState: 'queued', attempt: 2 });
    const job = await h.deps.jobs.get(ref.taskId, ref.jobIndex);
    expect(job).toMatchObject({
      state: 'queued',
      attempt: 2,
      failures: 1,
      pilotErrorCode: 1001,
      exitCode: 3,
    });
    for (const gone of ['pilotId', 'host', 'startedAt']) expect(job).not.toHaveProperty(gone);
    // The run lease became a dispatch lease: an unclaimed message is sent again after it.
    expect(job?.leaseExpiresAt).toBe(h.clock.now().getTime() + h.deps.settings.dispatchLeaseSec * 1000);
    expect(job?.attempts).toEqual([
      expect.objectContaining({
        attempt: 1,
        pilotId,
        state: 'failed',
        pilotErrorCode: 1001,
        exitCode: 3,
        errorMessage: 'exit 3',
      }),
    ]);
    expect((await h.deps.tasks.get(ref.taskId))?.counts).toMatchObject({ queued: 1, running: 0, failed: 0 });
    expect(await h.receiveJobMessages(1)).toEqual([
      { v: 1, taskId: ref.taskId, jobIndex: ref.jobIndex, attempt: 2, siteId: 'test-site' },
    ]);

    // A replay of the same report re-sends attempt 2's message (a lost send is healed) and changes
    // nothing else.
    const replay = await complete(h, pilotId, report(ref, failure));
    expect(replay.body).toEqual({ outcome: 'recorded', jobState: 'queued', attempt: 2 });
    expect(await h.deps.jobs.get(ref.taskId, ref.jobIndex)).toEqual(job);
    expect((await h.receiveJobMessages(1)).map((m) => m.attempt)).toEqual([2]);

    // The new attempt can be claimed, with its own output prefix.
    const second = await claimed(h, pilotId, { ...ref, attempt: 2 });
    expect(second.outputPrefix).toBe(`tasks/${ref.taskId}/jobs/${ref.jobIndex}/attempt-2/`);
  });

  it('fails the job once its attempts are spent, sending nothing', async () => {
    const ref = await runningJob(generationSpec(1, { maxAttempts: 2 }));
    expect((await complete(h, pilotId, report(ref, failure))).body).toMatchObject({
      jobState: 'queued',
      attempt: 2,
    });
    const [retry] = await h.receiveJobMessages(1);
    expect(retry?.attempt).toBe(2);
    const second = { ...ref, attempt: 2 };
    await claimed(h, pilotId, second);

    const reply = await complete(h, pilotId, report(second, failure));

    expect(reply.body).toEqual({ outcome: 'recorded', jobState: 'failed', attempt: 2 });
    const job = await h.deps.jobs.get(ref.taskId, ref.jobIndex);
    expect(job).toMatchObject({ state: 'failed', attempt: 2, failures: 2 });
    expect(job?.attempts.map((a) => [a.attempt, a.state])).toEqual([
      [1, 'failed'],
      [2, 'failed'],
    ]);
    expect((await h.deps.tasks.get(ref.taskId))?.counts).toMatchObject({ failed: 1, queued: 0, starting: 0 });
    expect(await h.queueDepth()).toBe(0);
  });

  it('retries an evicted attempt without using the attempt budget', async () => {
    const ref = await runningJob(generationSpec(1, { maxAttempts: 1 }));
    const reply = await complete(h, pilotId, report(ref, { pilotErrorCode: PILOT_ERROR_CODES.EVICTED }));
    expect(reply.body).toEqual({ outcome: 'recorded', jobState: 'queued', attempt: 2 });
    expect(await h.deps.jobs.get(ref.taskId, ref.jobIndex)).toMatchObject({ failures: 0, attempt: 2 });
    expect((await h.deps.jobs.get(ref.taskId, ref.jobIndex))?.attempts[0]?.state).toBe('evicted');
    expect((await h.receiveJobMessages(1)).map((m) => m.attempt)).toEqual([2]);
  });

  it('releases the waiting workflow exactly once, when the last job of the task is final', async () => {
    const { taskId, messages } = await runningTask(h, generationSpec(3));
    await invoke(waitForJobsHandler(h.deps), { taskId, taskToken: 'token-last-job' });
    for (const message of messages) await claimed(h, pilotId, refOf(message));

    await complete(h, pilotId, report(refOf(nth(messages, 0))));
    await complete(
      h,
      pilotId,
      report(refOf(nth(messages, 1)), { pilotErrorCode: PILOT_ERROR_CODES.CANCELLED }),
    );
    expect(h.workflow.releasesOf(taskId)).toEqual([]);

    const last = refOf(nth(messages, 2));
    // The last two reports of the same job arrive at once (a pilot retrying a timed-out call).
    const replies = await Promise.all([
      complete(h, pilotId, report(last)),
      complete(h, pilotId, report(last)),
    ]);
    expect(replies.map((r) => r.body.outcome).sort()).toEqual(['recorded', 'stale']);

    expect(h.workflow.releasesOf(taskId)).toEqual([{ token: 'token-last-job', output: { taskId } }]);
    expect((await h.deps.tasks.get(taskId))?.counts).toMatchObject({ finished: 2, cancelled: 1 });
    await complete(h, pilotId, report(last));
    expect(h.workflow.releasesOf(taskId)).toHaveLength(1);
  });

  it('answers stale to a report from a pilot that does not hold the job', async () => {
    const ref = await runningJob();
    const other = await registerPilot(h, { host: 'wn02.test' });
    const reply = await complete(h, other, report(ref));
    expect(reply.body).toEqual({ outcome: 'stale', reason: 'job is running at attempt 1' });
    expect((await h.deps.jobs.get(ref.taskId, ref.jobIndex))?.state).toBe('running');
  });

  it('answers 400 naming pilotErrorCode to an unknown code, changing nothing', async () => {
    const ref = await runningJob();
    const reply = await complete(h, pilotId, report(ref, { pilotErrorCode: 999 }));
    expect(reply.statusCode).toBe(400);
    expect(issueFields(reply.body)).toEqual(['pilotErrorCode']);
    expect((await h.deps.jobs.get(ref.taskId, ref.jobIndex))?.state).toBe('running');

    const many = await complete(h, pilotId, {
      ...ref,
      pilotErrorCode: 0,
      usage: { wallTimeSec: -1 },
      outputs: 'x',
    });
    expect(many.statusCode).toBe(400);
    expect(issueFields(many.body)).toEqual([
      'outputs',
      'usage.cpuTimeSec',
      'usage.maxRssKB',
      'usage.wallTimeSec',
    ]);
  });

  it('answers 404 to an unregistered pilot and 403 to a token of another site', async () => {
    const ref = await runningJob();
    expect((await complete(h, 'p-notregistered', report(ref))).statusCode).toBe(404);
    const forbidden = await complete(h, pilotId, report(ref), 'pilot:other');
    expect(forbidden.statusCode).toBe(403);
    expect((forbidden.body as unknown as ErrorBody).error.code).toBe('FORBIDDEN');
    expect((await h.deps.jobs.get(ref.taskId, ref.jobIndex))?.state).toBe('running');
  });
});
