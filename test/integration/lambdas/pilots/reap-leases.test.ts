import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobRef } from '#core/api/contract.ts';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import type { TaskSpecInput } from '#core/tasks/task-spec.ts';
import { createHandler } from '#lambdas/pilots/reap-leases/handler.ts';
import { createHandler as waitForJobsHandler } from '#lambdas/tasks/wait-for-jobs/handler.ts';
import { createHandlerHarness, type HandlerHarness, invoke } from '#test/support/handler-harness.ts';
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
} from '../task-flow.ts';

const LEASE_SEC = 60;
const PILOT_LOST_SEC = 600;
let h: HandlerHarness;
let pilotId: string;

beforeAll(async () => {
  h = await createHandlerHarness({ settings: { leaseSec: LEASE_SEC, pilotLostSec: PILOT_LOST_SEC } });
  pilotId = await registerPilot(h);
});

afterAll(async () => {
  await h?.close();
});

function reap() {
  // The scheduled event of EventBridge; the handler ignores its content.
  return invoke(
    createHandler(h.deps),
    { version: '0', id: 'e-1', 'detail-type': 'Scheduled Event', source: 'aws.events', detail: {} },
    'reap-leases',
  );
}

/** A task whose job 0 is claimed by `pilotId` now. */
async function claimedJob(spec: TaskSpecInput = generationSpec(1)): Promise<JobRef> {
  const { messages } = await runningTask(h, spec);
  const ref = refOf(nth(messages, 0));
  await claimed(h, pilotId, ref);
  // The pilot stays alive for the pilot-lost check; only its job's lease matters here.
  await heartbeat(h, pilotId, { state: 'busy', jobs: [] });
  return ref;
}

describe('reap-leases handler', () => {
  it('leaves a job alone while its lease holds, and queues it as a new attempt once it expired', async () => {
    const ref = await claimedJob();
    h.clock.advance((LEASE_SEC - 1) * 1000);
    expect(await reap()).toEqual({ jobsReaped: 0, jobsRedispatched: 0, pilotsLost: 0 });
    expect((await h.deps.jobs.get(ref.taskId, ref.jobIndex))?.state).toBe('starting');

    const now = h.clock.advance(2000);
    expect(await reap()).toEqual({ jobsReaped: 1, jobsRedispatched: 0, pilotsLost: 0 });

    const job = await h.deps.jobs.get(ref.taskId, ref.jobIndex);
    expect(job).toMatchObject({
      state: 'queued',
      attempt: 2,
      failures: 1,
      pilotErrorCode: PILOT_ERROR_CODES.PILOT_LOST,
    });
    expect(job).not.toHaveProperty('pilotId');
    expect(job?.leaseExpiresAt).toBe(now.getTime() + h.deps.settings.dispatchLeaseSec * 1000);
    expect(job?.attempts).toEqual([
      expect.objectContaining({
        attempt: 1,
        pilotId,
        state: 'lost',
        pilotErrorCode: PILOT_ERROR_CODES.PILOT_LOST,
        endedAt: now.toISOString(),
        errorMessage: expect.stringContaining(`no heartbeat from pilot ${pilotId}`),
      }),
    ]);
    expect((await h.deps.tasks.get(ref.taskId))?.counts).toMatchObject({ queued: 1, starting: 0 });
    expect(await h.receiveJobMessages(1)).toEqual([
      { v: 1, taskId: ref.taskId, jobIndex: ref.jobIndex, attempt: 2, siteId: 'test-site' },
    ]);

    // Reaping again does nothing; the vanished pilot's late report is stale.
    expect(await reap()).toEqual({ jobsReaped: 0, jobsRedispatched: 0, pilotsLost: 0 });
    expect((await complete(h, pilotId, report(ref))).body).toEqual({
      outcome: 'stale',
      reason: 'job is queued at attempt 2',
    });
    expect(await h.queueDepth()).toBe(0);
  });

  it('does not reap a job whose lease the heartbeats renewed', async () => {
    const ref = await claimedJob();
    for (let i = 0; i < 3; i++) {
      h.clock.advance((LEASE_SEC - 10) * 1000);
      const beat = await heartbeat(h, pilotId, { state: 'busy', jobs: [{ ...ref, phase: 'running' }] });
      expect(beat.body.jobs[0]?.action).toBe('continue');
      expect(await reap()).toEqual({ jobsReaped: 0, jobsRedispatched: 0, pilotsLost: 0 });
    }
    expect((await h.deps.jobs.get(ref.taskId, ref.jobIndex))?.state).toBe('running');
    await complete(h, pilotId, report(ref));
  });

  it('fails the job when its attempts are spent, sends nothing, and releases a waiting workflow', async () => {
    const ref = await claimedJob(generationSpec(1, { maxAttempts: 1 }));
    await invoke(waitForJobsHandler(h.deps), { taskId: ref.taskId, taskToken: 'token-reaped' });
    h.clock.advance((LEASE_SEC + 1) * 1000);

    expect(await reap()).toEqual({ jobsReaped: 1, jobsRedispatched: 0, pilotsLost: 0 });

    const job = await h.deps.jobs.get(ref.taskId, ref.jobIndex);
    expect(job).toMatchObject({ state: 'failed', attempt: 1, failures: 1 });
    expect(job?.attempts.map((a) => a.state)).toEqual(['lost']);
    expect((await h.deps.tasks.get(ref.taskId))?.counts).toMatchObject({ failed: 1, starting: 0 });
    expect(await h.queueDepth()).toBe(0);
    expect(h.workflow.releasesOf(ref.taskId)).toEqual([
      { token: 'token-reaped', output: { taskId: ref.taskId } },
    ]);
  });

  it('marks pilots silent for too long as lost, once', async () => {
    const silent = await registerPilot(h, { host: 'wn09.test' });
    h.clock.advance(PILOT_LOST_SEC * 1000 - 1000);
    await heartbeat(h, pilotId, { state: 'idle' });
    expect(await reap()).toEqual({ jobsReaped: 0, jobsRedispatched: 0, pilotsLost: 0 });

    h.clock.advance(2000);
    expect(await reap()).toEqual({ jobsReaped: 0, jobsRedispatched: 0, pilotsLost: 1 });
    expect((await h.deps.pilots.get(silent))?.state).toBe('lost');
    expect((await h.deps.pilots.get(pilotId))?.state).toBe('idle');
    expect(await reap()).toEqual({ jobsReaped: 0, jobsRedispatched: 0, pilotsLost: 0 });
  });
  it('sends the message of a queued job again when it was lost, after the dispatch lease, once', async () => {
    // runningTask receives (and deletes) the job's message: as far as SQS knows, the job is gone.
    const { taskId } = await runningTask(h, generationSpec(1));
    h.clock.advance(h.deps.settings.dispatchLeaseSec * 1000 + 1000);
    const first = await reap();
    expect(first.jobsRedispatched).toBeGreaterThanOrEqual(1);
    const messages = await h.receiveJobMessages(first.jobsRedispatched);
    expect(messages).toContainEqual({ v: 1, taskId, jobIndex: 0, attempt: 1, siteId: 'test-site' });
    expect((await h.deps.jobs.get(taskId, 0))?.state).toBe('queued');
    expect((await reap()).jobsRedispatched).toBe(0);
  });
});
