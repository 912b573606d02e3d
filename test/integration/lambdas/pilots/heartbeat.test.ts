import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorBody, JobRef } from '#core/api/contract.ts';
import { createHandler as cancelTaskHandler } from '#lambdas/tasks/cancel-task/handler.ts';
import {
  createHandlerHarness,
  type HandlerHarness,
  httpEvent,
  invokeHttp,
  issueFields,
} from '#test/support/handler-harness.ts';
import {
  claimed,
  generationSpec,
  heartbeat,
  refOf,
  registerPilot,
  runningTask,
  USER_SCOPES,
} from '../task-flow.ts';

const LEASE_SEC = 300;
let h: HandlerHarness;
let pilotId: string;

beforeAll(async () => {
  h = await createHandlerHarness({ settings: { leaseSec: LEASE_SEC } });
  pilotId = await registerPilot(h);
});

afterAll(async () => {
  await h?.close();
});

/** A running task with one job claimed by `pilotId`; the job's reference. */
async function claimedJob(jobs = 1): Promise<JobRef> {
  const { messages } = await runningTask(h, generationSpec(jobs));
  const first = messages[0];
  if (first === undefined) throw new Error('no message');
  await claimed(h, pilotId, refOf(first));
  return refOf(first);
}

describe('heartbeat handler', () => {
  it('moves a job from starting to running, renews its lease and records the pilot busy with it', async () => {
    const ref = await claimedJob(2);
    const now = h.clock.advance(30_000);
    const lease = now.getTime() + LEASE_SEC * 1000;

    const reply = await heartbeat(h, pilotId, { state: 'busy', jobs: [{ ...ref, phase: 'running' }] });

    expect(reply.statusCode).toBe(200);
    expect(reply.body).toEqual({
      jobs: [{ ...ref, action: 'continue' }],
      leaseExpiresAt: lease,
      serverTime: now.toISOString(),
    });
    expect(await h.deps.jobs.get(ref.taskId, ref.jobIndex)).toMatchObject({
      state: 'running',
      pilotId,
      leaseExpiresAt: lease,
    });
    expect((await h.deps.tasks.get(ref.taskId))?.counts).toMatchObject({
      starting: 0,
      running: 1,
      queued: 1,
    });
    expect(await h.deps.pilots.get(pilotId)).toMatchObject({
      state: 'busy',
      lastHeartbeatAt: now.toISOString(),
      currentJobId: `${ref.taskId}.${ref.jobIndex}`,
    });

    // The next heartbeat of a running job only renews the lease (counted once).
    const later = h.clock.advance(60_000);
    const again = await heartbeat(h, pilotId, { state: 'busy', jobs: [{ ...ref, phase: 'running' }] });
    expect(again.body.jobs).toEqual([{ ...ref, action: 'continue' }]);
    expect((await h.deps.jobs.get(ref.taskId, ref.jobIndex))?.leaseExpiresAt).toBe(
      later.getTime() + LEASE_SEC * 1000,
    );
    expect((await h.deps.tasks.get(ref.taskId))?.counts).toMatchObject({ starting: 0, running: 1 });
  });

  it('renews the lease of a job still starting without moving it', async () => {
    const ref = await claimedJob();
    const now = h.clock.advance(10_000);
    const reply = await heartbeat(h, pilotId, { state: 'busy', jobs: [{ ...ref, phase: 'starting' }] });
    expect(reply.body.jobs).toEqual([{ ...ref, action: 'continue' }]);
    expect(await h.deps.jobs.get(ref.taskId, ref.jobIndex)).toMatchObject({
      state: 'starting',
      leaseExpiresAt: now.getTime() + LEASE_SEC * 1000,
    });
  });

  it('tells the pilot to kill a job whose task was cancelled', async () => {
    const ref = await claimedJob();
    await heartbeat(h, pilotId, { state: 'busy', jobs: [{ ...ref, phase: 'running' }] });
    const cancel = await invokeHttp(
      cancelTaskHandler(h.deps),
      httpEvent({
        method: 'POST',
        path: '/tasks/{taskId}/cancel',
        pathParameters: { taskId: ref.taskId },
        scopes: USER_SCOPES,
      }),
    );
    expect(cancel.statusCode).toBe(202);

    const reply = await heartbeat(h, pilotId, { state: 'busy', jobs: [{ ...ref, phase: 'running' }] });
    expect(reply.statusCode).toBe(200);
    expect(reply.body.jobs).toEqual([{ ...ref, action: 'kill', reason: 'cancelled' }]);
    // The job ends when the pilot reports it; until then it is still the pilot's.
    expect((await h.deps.jobs.get(ref.taskId, ref.jobIndex))?.state).toBe('running');
  });

  it('tells the pilot to kill a job whose lease it does not hold', async () => {
    const ref = await claimedJob();
    const other = await registerPilot(h, { host: 'wn02.test' });
    const leaseBefore = (await h.deps.jobs.get(ref.taskId, ref.jobIndex))?.leaseExpiresAt;
    h.clock.advance(10_000);

    const wrongPilot = await heartbeat(h, other, { state: 'busy', jobs: [{ ...ref, phase: 'running' }] });
    expect(wrongPilot.body.jobs).toEqual([{ ...ref, action: 'kill', reason: 'lease lost' }]);
    const wrongAttempt = await heartbeat(h, pilotId, {
      state: 'busy',
      jobs: [{ ...ref, attempt: 2, phase: 'starting' }],
    });
    expect(wrongAttempt.body.jobs).toEqual([{ ...ref, attempt: 2, action: 'kill', reason: 'lease lost' }]);

    expect(await h.deps.jobs.get(ref.taskId, ref.jobIndex)).toMatchObject({
      state: 'starting',
      pilotId,
      leaseExpiresAt: leaseBefore,
    });
  });

  it('records an idle pilot without a job in hand', async () => {
    const idle = await registerPilot(h);
    const now = h.clock.advance(5000);
    const reply = await heartbeat(h, idle, { state: 'idle' });
    expect(reply.statusCode).toBe(200);
    expect(reply.body).toEqual({
      jobs: [],
      leaseExpiresAt: now.getTime() + LEASE_SEC * 1000,
      serverTime: now.toISOString(),
    });
    const pilot = await h.deps.pilots.get(idle);
    expect(pilot).toMatchObject({ state: 'idle', lastHeartbeatAt: now.toISOString() });
    expect(pilot).not.toHaveProperty('currentJobId');
  });

  it('answers 404 to an unregistered pilot and 403 to a token of another site', async () => {
    const unknown = await heartbeat(h, 'p-notregistered', { state: 'idle' });
    expect(unknown.statusCode).toBe(404);
    const forbidden = await heartbeat(h, pilotId, { state: 'idle' }, 'pilot:other');
    expect(forbidden.statusCode).toBe(403);
    expect((forbidden.body as unknown as ErrorBody).error.code).toBe('FORBIDDEN');
  });

  it('answers 400 naming the bad fields', async () => {
    const reply = await heartbeat(h, pilotId, {
      state: 'flying',
      jobs: [{ taskId: 't-abcdefgh', jobIndex: 0, attempt: 1, phase: 'done' }],
    });
    expect(reply.statusCode).toBe(400);
    expect(issueFields(reply.body)).toEqual(['jobs.0.phase', 'state']);
  });
});
