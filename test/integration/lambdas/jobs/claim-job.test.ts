import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorBody } from '#core/api/contract.ts';
import { createHandler as cancelTaskHandler } from '#lambdas/tasks/cancel-task/handler.ts';
import {
  createHandlerHarness,
  type HandlerHarness,
  httpEvent,
  invokeHttp,
  issueFields,
} from '#test/support/handler-harness.ts';
import { claim, generationSpec, nth, refOf, registerPilot, runningTask, USER_SCOPES } from '../task-flow.ts';

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
  it('claims the job of a message: the job is starting under a lease held by the pilot', async () => {
    const { taskId, messages } = await runningTask(h, generationSpec(3));
    const message = nth(messages, 1);
    h.clock.advance(1000);
    const now = h.clock.now();

    const reply = await claim(h, pilotId, refOf(message));

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
        leaseExpiresAt: now.getTime() + LEASE_SEC * 1000,
      },
    });

    expect(await h.deps.jobs.get(taskId, 1)).toMatchObject({
      state: 'starting',
      attempt: 1,
      pilotId,
      host: 'wn01.test',
      leaseExpiresAt: now.getTime() + LEASE_SEC * 1000,
      startedAt: now.toISOString(),
    });
    expect((await h.deps.tasks.get(taskId))?.counts).toMatchObject({ queued: 2, starting: 1 });
  });

  it('answers stale to a second claim of the same message, by any pilot, and changes nothing', async () => {
    const { taskId, messages } = await runningTask(h, generationSpec(1));
    const ref = refOf(nth(messages, 0));
    expect((await claim(h, pilotId, ref)).body.outcome).toBe('claimed');
    const job = await h.deps.jobs.get(taskId, 0);
    h.clock.advance(1000);

    for (const who of [pilotId, otherPilotId]) {
      const again = await claim(h, who, ref);
      expect(again.statusCode).toBe(200);
      expect(again.body).toEqual({ outcome: 'stale', reason: 'job is starting at attempt 1' });
    }
    expect(await h.deps.jobs.get(taskId, 0)).toEqual(job);
    expect((await h.deps.tasks.get(taskId))?.counts).toMatchObject({ starting: 1, queued: 0 });
  });

  it('gives the job to exactly one of two pilots claiming it at once', async () => {
    const { taskId, messages } = await runningTask(h, generationSpec(1));
    const ref = refOf(nth(messages, 0));
    const replies = await Promise.all([claim(h, pilotId, ref), claim(h, otherPilotId, ref)]);
    expect(replies.map((r) => r.body.outcome).sort()).toEqual(['claimed', 'stale']);
    const winner = replies[0]?.body.outcome === 'claimed' ? pilotId : otherPilotId;
    expect((await h.deps.jobs.get(taskId, 0))?.pilotId).toBe(winner);
    expect((await h.deps.tasks.get(taskId))?.counts).toMatchObject({ starting: 1, queued: 0 });
  });

  it('answers stale to a message of another attempt or of no job', async () => {
    const { taskId, messages } = await runningTask(h, generationSpec(1));
    const ref = refOf(nth(messages, 0));

    const wrongAttempt = await claim(h, pilotId, { ...ref, attempt: 2 });
    expect(wrongAttempt.body).toEqual({ outcome: 'stale', reason: 'job is queued at attempt 1' });
    const noJob = await claim(h, pilotId, { ...ref, jobIndex: 7 });
    expect(noJob.body).toEqual({ outcome: 'stale', reason: 'no such job' });

    expect(await h.deps.jobs.get(taskId, 0)).toMatchObject({ state: 'queued', attempt: 1 });
    expect(await h.deps.jobs.get(taskId, 0)).not.toHaveProperty('pilotId');
  });

  it('answers unfit when the job needs more than the pilot offers, leaving the job queued', async () => {
    const { taskId, messages } = await runningTask(
      h,
      generationSpec(1, { resources: { walltimeSec: 7200 } }),
    );
    const ending = await registerPilot(h, {
      resources: { cores: 8, memoryMB: 16_000, diskMB: 20_000, walltimeLeftSec: 3600 },
    });
    const reply = await claim(h, ending, refOf(nth(messages, 0)));
    expect(reply.body).toEqual({ outcome: 'unfit', reason: 'needs 7200 s walltime, pilot has 3600 s left' });
    expect((await h.deps.jobs.get(taskId, 0))?.state).toBe('queued');
  });

  it('cancels the job of a cancelled task instead of claiming it', async () => {
    const { taskId, messages } = await runningTask(h, generationSpec(2));
    // The owner cancels after the pilot received the message but before it claims (the sweep of
    // queued jobs may not have reached this one yet): emulate by cancelling only the task flag.
    await h.deps.tasks.requestCancel(taskId, h.clock.now().toISOString());

    const reply = await claim(h, pilotId, refOf(nth(messages, 0)));
    expect(reply.body).toEqual({ outcome: 'cancelled', reason: 'the task was cancelled' });
    expect(await h.deps.jobs.get(taskId, 0)).toMatchObject({
      state: 'cancelled',
      errorMessage: 'cancelled by its owner',
    });
    expect((await h.deps.tasks.get(taskId))?.counts).toMatchObject({ cancelled: 1, queued: 1, starting: 0 });

    // Through the API the sweep cancels the rest; a late claim is then stale.
    const cancel = await invokeHttp(
      cancelTaskHandler(h.deps),
      httpEvent({
        method: 'POST',
        path: '/tasks/{taskId}/cancel',
        pathParameters: { taskId },
        scopes: USER_SCOPES,
      }),
    );
    expect(cancel.statusCode).toBe(202);
    expect((await claim(h, pilotId, refOf(nth(messages, 1)))).body.outcome).toBe('stale');
  });

  it('answers 404 to an unregistered pilot and 403 to a token of another site', async () => {
    const { messages } = await runningTask(h, generationSpec(1));
    const ref = refOf(nth(messages, 0));
    const unknown = await claim(h, 'p-notregistered', ref);
    expect(unknown.statusCode).toBe(404);
    expect((unknown.body as unknown as ErrorBody).error.code).toBe('NOT_FOUND');
    const forbidden = await claim(h, pilotId, ref, 'pilot:other');
    expect(forbidden.statusCode).toBe(403);
    expect((forbidden.body as unknown as ErrorBody).error.code).toBe('FORBIDDEN');
    // Neither touched the job.
    expect((await claim(h, pilotId, ref)).body.outcome).toBe('claimed');
  });

  it('answers 400 naming the bad fields of the body and of the path', async () => {
    const body = await claim(h, pilotId, { taskId: 'task-1', jobIndex: -1, attempt: 0 });
    expect(body.statusCode).toBe(400);
    expect(issueFields(body.body)).toEqual(['attempt', 'jobIndex', 'taskId']);

    const path = await claim(h, 'pilot-1', { taskId: 't-abcdefgh', jobIndex: 0, attempt: 1 });
    expect(path.statusCode).toBe(400);
    expect(issueFields(path.body)).toEqual(['path.pilotId']);
  });
});
