import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobRefInput } from '#core/api/pilots.ts';
import { attemptKey } from '#core/jobs/job.ts';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import {
  createHandlerHarness,
  type HandlerHarness,
  issueFields,
  TEST_SITE,
} from '#test/support/handler-harness.ts';
import {
  claim,
  claimed,
  complete,
  FAILED,
  generationSpec,
  nth,
  refOf,
  registerPilot,
  report,
  runningTask,
  USAGE,
  waitForJobs,
} from '../task-flow.ts';

let h: HandlerHarness;
let pilotId: string;

beforeAll(async () => {
  h = await createHandlerHarness();
  // Slots of 8000 MB: room for a retry with more memory.
  await h.addSite({ siteId: TEST_SITE, slot: { memoryMB: 8000 } });
  pilotId = await registerPilot(h);
});

afterAll(async () => {
  await h?.close();
});

/** A running task whose job 0 is claimed and running under `pilot`. */
async function runningJob(spec = generationSpec(1), pilot = pilotId): Promise<JobRefInput> {
  const { messages } = await runningTask(h, spec);
  const ref = refOf(nth(messages, 0));
  await claimed(h, pilot, ref);
  return ref;
}

describe('complete-job handler', () => {
  it('records a finished attempt on the job record, frees the lease and counts it once the feed went through', async () => {
    const ref = await runningJob();
    const startedAt = (await h.deps.jobs.get(ref.taskId, ref.jobIndex))?.startedAt;
    const now = h.clock.advance(60_000);

    const reply = await complete(h, pilotId, { ...report(ref), holds: [] });

    expect(reply.statusCode).toBe(200);
    expect(reply.body).toEqual({ outcome: 'recorded', jobState: 'finished', attempt: 1 });
    expect(await h.deps.jobs.get(ref.taskId, ref.jobIndex)).toEqual({
      taskId: ref.taskId,
      jobIndex: ref.jobIndex,
      state: 'finished',
      attempt: 1,
      failures: 0,
      siteId: TEST_SITE,
      pilotId,
      host: 'wn01.test',
      startedAt,
      endedAt: now.toISOString(),
      updatedAt: now.toISOString(),
      exitCode: 0,
      pilotErrorCode: 0,
      usage: USAGE,
      outputs: report(ref).outputs,
      log: report(ref).log,
    });
    expect(await h.deps.leases.get(pilotId)).toMatchObject({
      state: 'idle',
      jobs: [],
      expiresAt: now.getTime() + h.deps.settings.leaseSec * 1000,
    });
    await h.settleJobChanges();
    expect((await h.deps.tasks.get(ref.taskId))?.counts).toMatchObject({ running: 0, finished: 1 });
    // Nothing to run again.
    expect(await h.queueDepth()).toBe(0);
  });

  it('answers a replayed report as the first time and changes nothing', async () => {
    const ref = await runningJob();
    await complete(h, pilotId, { ...report(ref), holds: [] });
    const record = await h.deps.jobs.get(ref.taskId, ref.jobIndex);
    h.clock.advance(1000);

    const replay = await complete(h, pilotId, { ...report(ref), holds: [] });

    expect(replay.statusCode).toBe(200);
    expect(replay.body).toEqual({ outcome: 'recorded', jobState: 'finished', attempt: 1 });
    expect(await h.deps.jobs.get(ref.taskId, ref.jobIndex)).toEqual(record);
  });

  it('queues a failed attempt again as attempt 2; the feed sends its message and archives attempt 1', async () => {
    const ref = await runningJob(generationSpec(1, { maxAttempts: 3 }));
    const now = h.clock.advance(1000);

    const reply = await complete(h, pilotId, { ...report(ref, FAILED), holds: [] });

    expect(reply.body).toEqual({ outcome: 'recorded', jobState: 'queued', attempt: 2 });
    const record = await h.deps.jobs.get(ref.taskId, ref.jobIndex);
    expect(record).toMatchObject({
      state: 'queued',
      attempt: 2,
      failures: 1,
      queuedAt: now.toISOString(),
      ended: {
        attempt: 1,
        pilotId,
        siteId: TEST_SITE,
        host: 'wn01.test',
        state: 'failed',
        endedAt: now.toISOString(),
        pilotErrorCode: 1001,
        exitCode: 3,
        errorMessage: 'exit 3',
        usage: USAGE,
      },
    });
    for (const gone of ['pilotId', 'host', 'startedAt', 'exitCode', 'pilotErrorCode', 'outputs', 'log']) {
      expect(record).not.toHaveProperty(gone);
    }
    // The write is the truth; the message goes out from the change feed.
    expect(await h.queueDepth()).toBe(0);
    await h.settleJobChanges();
    expect(await h.receiveJobMessages(1, { taskId: ref.taskId })).toEqual([
      {
        v: 1,
        taskId: ref.taskId,
        jobIndex: ref.jobIndex,
        attempt: 2,
        siteId: TEST_SITE,
        sentAt: now.getTime(),
        needs: { cores: 1, memoryMB: 2000 },
      },
    ]);
    expect(await h.deps.jobs.attempts(ref.taskId, ref.jobIndex)).toEqual([record?.ended]);
    expect((await h.deps.tasks.get(ref.taskId))?.counts).toMatchObject({ queued: 1, running: 0, failed: 0 });

    // A replay answers the same and writes nothing, so nothing is sent again.
    expect((await complete(h, pilotId, { ...report(ref, FAILED), holds: [] })).body).toEqual(reply.body);
    expect(await h.settleJobChanges()).toBe(0);

    // The new attempt can be claimed, with its own output prefix.
    const second = await claimed(h, pilotId, { ...ref, attempt: 2 });
    expect(second.outputPrefix).toBe(`tasks/${ref.taskId}/jobs/${ref.jobIndex}/attempt-2/`);
  });

  it('fails the job once its attempts are spent, sending nothing', async () => {
    const ref = await runningJob(generationSpec(1, { maxAttempts: 2 }));
    await complete(h, pilotId, { ...report(ref, FAILED), holds: [] });
    await h.settleJobChanges();
    expect((await h.receiveJobMessages(1, { taskId: ref.taskId })).map((m) => m.attempt)).toEqual([2]);
    const second = { ...ref, attempt: 2 };
    await claimed(h, pilotId, second);

    const reply = await complete(h, pilotId, { ...report(second, FAILED), holds: [] });

    expect(reply.body).toEqual({ outcome: 'recorded', jobState: 'failed', attempt: 2 });
    expect(await h.deps.jobs.get(ref.taskId, ref.jobIndex)).toMatchObject({
      state: 'failed',
      attempt: 2,
      failures: 2,
    });
    await h.settleJobChanges();
    expect((await h.deps.tasks.get(ref.taskId))?.counts).toMatchObject({ failed: 1, queued: 0, running: 0 });
    expect(await h.queueDepth()).toBe(0);
  });

  it('retries an evicted attempt without using the attempt budget', async () => {
    const ref = await runningJob(generationSpec(1, { maxAttempts: 1 }));
    const reply = await complete(h, pilotId, {
      ...report(ref, { pilotErrorCode: PILOT_ERROR_CODES.EVICTED }),
      holds: [],
    });
    expect(reply.body).toEqual({ outcome: 'recorded', jobState: 'queued', attempt: 2 });
    expect(await h.deps.jobs.get(ref.taskId, ref.jobIndex)).toMatchObject({
      failures: 0,
      attempt: 2,
      ended: { state: 'evicted' },
    });
  });

  it('retries an attempt killed for memory with more memory, which the next claim gets', async () => {
    const ref = await runningJob(generationSpec(1, { resources: { memoryMB: 2000 }, maxAttempts: 3 }));
    const reply = await complete(h, pilotId, {
      ...report(ref, { pilotErrorCode: PILOT_ERROR_CODES.MEMORY_EXCEEDED, exitCode: 137 }),
      holds: [],
    });
    expect(reply.body).toEqual({ outcome: 'recorded', jobState: 'queued', attempt: 2 });
    expect((await h.deps.jobs.get(ref.taskId, ref.jobIndex))?.resources).toEqual({ memoryMB: 3000 });
    const job = await claimed(h, pilotId, { ...ref, attempt: 2 });
    expect(job.resources).toEqual({ cores: 1, memoryMB: 3000, walltimeSec: 3600, diskMB: 1000 });
  });

  it('keeps the attempts the pilot still holds on its lease and drops the kill entry of the reported one', async () => {
    const { taskId, messages } = await runningTask(h, generationSpec(2));
    const pilot = await registerPilot(h, { host: 'wn02.test' });
    const [first, second] = [refOf(nth(messages, 0)), refOf(nth(messages, 1))];
    await claimed(h, pilot, first);
    await claimed(h, pilot, second, { holds: [first] });
    await h.deps.leases.addKills(pilot, [
      `${attemptKey(first)}|cancelled`,
      `${attemptKey(second)}|cancelled`,
    ]);

    const reply = await complete(h, pilot, {
      ...report(first, { pilotErrorCode: PILOT_ERROR_CODES.CANCELLED }),
      holds: [second],
    });

    expect(reply.body).toEqual({ outcome: 'recorded', jobState: 'cancelled', attempt: 1 });
    expect(await h.deps.leases.get(pilot)).toMatchObject({
      state: 'busy',
      jobs: [`${taskId}.1.1`],
      kill: [`${taskId}.1.1|cancelled`],
    });
  });

  it('leaves a draining pilot draining: its report frees the lease but does not show it idle', async () => {
    const pilot = await registerPilot(h, { host: 'wn08.test' });
    const ref = await runningJob(generationSpec(1), pilot);
    // The pilot was asked to stop: its heartbeat says so at once, then it reports the evicted attempt.
    await h.deps.leases.renew(pilot, {
      state: 'draining',
      expiresAt: h.clock.now().getTime() + 60_000,
      beatAt: h.clock.now().toISOString(),
      jobsRun: 0,
    });
    const now = h.clock.advance(1000);

    const reply = await complete(h, pilot, {
      ...report(ref, { pilotErrorCode: PILOT_ERROR_CODES.EVICTED }),
      holds: [],
    });

    expect(reply.body).toEqual({ outcome: 'recorded', jobState: 'queued', attempt: 2 });
    expect(await h.deps.leases.get(pilot)).toMatchObject({
      state: 'draining',
      jobs: [],
      expiresAt: now.getTime() + h.deps.settings.leaseSec * 1000,
    });
  });

  it('releases the waiting workflow once the last job of the task is final', async () => {
    const { taskId, messages } = await runningTask(h, generationSpec(3));
    await waitForJobs(h, taskId, 'token-last-job');
    for (const message of messages) await claimed(h, pilotId, refOf(message));

    await complete(h, pilotId, { ...report(refOf(nth(messages, 0))), holds: [] });
    await complete(h, pilotId, {
      ...report(refOf(nth(messages, 1)), { pilotErrorCode: PILOT_ERROR_CODES.CANCELLED }),
      holds: [],
    });
    await h.settleJobChanges();
    expect(h.workflow.releasesOf(taskId)).toEqual([]);

    const last = refOf(nth(messages, 2));
    // The last report comes twice at once (a pilot retrying a call whose answer it lost).
    const replies = await Promise.all([
      complete(h, pilotId, { ...report(last), holds: [] }),
      complete(h, pilotId, { ...report(last), holds: [] }),
    ]);
    expect(replies.map((r) => r.body)).toEqual([
      { outcome: 'recorded', jobState: 'finished', attempt: 1 },
      { outcome: 'recorded', jobState: 'finished', attempt: 1 },
    ]);
    await h.settleJobChanges();

    expect(h.workflow.releasesOf(taskId)).toEqual([
      { token: 'token-last-job', output: { taskId, sweep: false } },
    ]);
    expect((await h.deps.tasks.get(taskId))?.counts).toMatchObject({ finished: 2, cancelled: 1, running: 0 });
  });

  it('fences a claim whose answer the pilot never heard: the attempt is abandoned and a late claim is stale', async () => {
    const { taskId, messages } = await runningTask(h, generationSpec(1));
    const ref = refOf(nth(messages, 0));

    const reply = await complete(h, pilotId, {
      ...report(ref, { pilotErrorCode: PILOT_ERROR_CODES.CLAIM_ABANDONED, exitCode: undefined }),
      holds: [],
    });

    expect(reply.body).toEqual({ outcome: 'recorded', jobState: 'queued', attempt: 2 });
    expect(await h.deps.jobs.get(taskId, 0)).toMatchObject({
      state: 'queued',
      attempt: 2,
      failures: 0,
      ended: { attempt: 1, state: 'abandoned', pilotErrorCode: PILOT_ERROR_CODES.CLAIM_ABANDONED },
    });
    expect((await claim(h, pilotId, ref)).body).toEqual({
      outcome: 'stale',
      reason: 'the job is queued at attempt 2',
    });
  });

  it('answers a replayed give-back as the first time (recorded, queued at the next attempt) and changes nothing', async () => {
    const { taskId, messages } = await runningTask(h, generationSpec(2));
    // Job 0's claim never landed; job 1's did (the lease told the pilot of it).
    const [lost, landed] = [refOf(nth(messages, 0)), refOf(nth(messages, 1))];
    await claimed(h, pilotId, landed);
    const giveBack = (ref: JobRefInput) => ({
      ...report(ref, { pilotErrorCode: PILOT_ERROR_CODES.CLAIM_ABANDONED, exitCode: undefined }),
      holds: [],
    });

    for (const ref of [lost, landed]) {
      const first = await complete(h, pilotId, giveBack(ref));
      expect(first.body, `job ${ref.jobIndex}`).toEqual({
        outcome: 'recorded',
        jobState: 'queued',
        attempt: 2,
      });
      const record = await h.deps.jobs.get(taskId, ref.jobIndex);
      h.clock.advance(1000);

      const replay = await complete(h, pilotId, giveBack(ref));

      expect(replay.statusCode).toBe(200);
      expect(replay.body, `job ${ref.jobIndex}`).toEqual(first.body);
      expect(await h.deps.jobs.get(taskId, ref.jobIndex)).toEqual(record);
    }
  });

  it('answers stale to a give-back of another pilot or another attempt, and to a report of a given-back attempt', async () => {
    const { taskId, messages } = await runningTask(h, generationSpec(1));
    const ref = refOf(nth(messages, 0));
    const giveBack = (attempt: number) => ({
      ...report(
        { ...ref, attempt },
        { pilotErrorCode: PILOT_ERROR_CODES.CLAIM_ABANDONED, exitCode: undefined },
      ),
      holds: [],
    });
    await complete(h, pilotId, giveBack(1));
    const record = await h.deps.jobs.get(taskId, 0);
    const other = await registerPilot(h, { host: 'wn07.test' });
    const stale = { outcome: 'stale', reason: 'the job is queued at attempt 2' };

    expect((await complete(h, other, giveBack(1))).body).toEqual(stale);
    expect((await complete(h, pilotId, { ...giveBack(1), attempt: 0 })).statusCode).toBe(400);
    expect((await complete(h, pilotId, { ...report(ref, FAILED), holds: [] })).body).toEqual(stale);
    expect((await complete(h, pilotId, { ...report(ref), holds: [] })).body).toEqual(stale);
    expect(await h.deps.jobs.get(taskId, 0)).toEqual(record);

    // Attempt 2 claimed and given back: a replay of attempt 1's give-back stays stale.
    await claimed(h, other, { ...ref, attempt: 2 });
    expect((await complete(h, other, giveBack(2))).body).toEqual({
      outcome: 'recorded',
      jobState: 'queued',
      attempt: 3,
    });
    expect((await complete(h, pilotId, giveBack(1))).body).toEqual({
      outcome: 'stale',
      reason: 'the job is queued at attempt 3',
    });
    expect((await complete(h, pilotId, giveBack(2))).body).toEqual({
      outcome: 'stale',
      reason: 'the job is queued at attempt 3',
    });
  });

  it('answers stale to a report of an attempt the pilot does not hold, changing nothing', async () => {
    const ref = await runningJob();
    const record = await h.deps.jobs.get(ref.taskId, ref.jobIndex);
    const other = await registerPilot(h, { host: 'wn06.test' });

    expect((await complete(h, other, { ...report(ref), holds: [] })).body).toEqual({
      outcome: 'stale',
      reason: 'the job is running at attempt 1',
    });
    expect((await complete(h, pilotId, { ...report({ ...ref, attempt: 3 }), holds: [] })).body).toEqual({
      outcome: 'stale',
      reason: 'the job is running at attempt 1',
    });
    // A token of another site cannot end this site's jobs either.
    expect((await complete(h, pilotId, { ...report(ref), holds: [] }, 'pilot:other-site')).body.outcome).toBe(
      'stale',
    );
    expect(
      (
        await complete(h, pilotId, {
          ...report({ ...ref, jobIndex: 0, taskId: 't-neversubmitted' }),
          holds: [],
        })
      ).body,
    ).toEqual({
      outcome: 'stale',
      reason: 'the job was never claimed',
    });
    expect(await h.deps.jobs.get(ref.taskId, ref.jobIndex)).toEqual(record);
  });

  it('answers 400 naming the bad fields, changing nothing', async () => {
    const ref = await runningJob();
    const code = await complete(h, pilotId, { ...report(ref, { pilotErrorCode: 999 }), holds: [] });
    expect(code.statusCode).toBe(400);
    expect(issueFields(code.body)).toEqual(['pilotErrorCode']);

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

    const holds = await complete(h, pilotId, {
      ...report(ref),
      holds: [{ taskId: ref.taskId, jobIndex: 0 }],
    });
    expect(issueFields(holds.body)).toEqual(['holds.0.attempt']);

    const path = await complete(h, 'not-a-pilot', { ...report(ref), holds: [] });
    expect(issueFields(path.body)).toEqual(['path.pilotId']);

    expect((await h.deps.jobs.get(ref.taskId, ref.jobIndex))?.state).toBe('running');
  });

  it('answers 401 to a token without a subject', async () => {
    const ref = await runningJob();
    const reply = await complete(h, pilotId, { ...report(ref), holds: [] }, null);
    expect(reply.statusCode).toBe(401);
    expect((await h.deps.jobs.get(ref.taskId, ref.jobIndex))?.state).toBe('running');
  });
});
