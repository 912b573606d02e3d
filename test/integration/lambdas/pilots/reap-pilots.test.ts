import { GetQueueAttributesCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import type { ReapReport } from '#core/pilots/reap-pilots.ts';
import { createHandler } from '#lambdas/pilots/reap-pilots/handler.ts';
import {
  createHandlerHarness,
  type HandlerHarness,
  invoke,
  TEST_SITE,
} from '#test/support/handler-harness.ts';
import {
  claim,
  claimed,
  complete,
  generationSpec,
  nth,
  refOf,
  registerPilot,
  report,
  runningTask,
} from '../task-flow.ts';

const LEASE_SEC = 60;
/** What EventBridge Scheduler hands the function (the input is not used). */
const SCHEDULED = { version: '0', 'detail-type': 'Scheduled Event', source: 'aws.scheduler', detail: {} };
const QUIET: ReapReport = {
  pilotsLost: 0,
  pilotsExited: 0,
  jobsRequeued: 0,
  claimsAbandoned: 0,
  deadLettersRedriven: 0,
  pilotsLive: 0,
};

let h: HandlerHarness;

beforeEach(async () => {
  h = await createHandlerHarness({ settings: { leaseSec: LEASE_SEC } });
});

afterEach(async () => {
  await h?.close();
});

function reap(): Promise<ReapReport> {
  return invoke(createHandler(h.deps), SCHEDULED, 'reap-pilots') as Promise<ReapReport>;
}

/** Past the end of every lease taken so far. */
function pastLeases(): Date {
  return h.clock.advance((LEASE_SEC + 1) * 1000);
}

describe('reap-pilots handler', () => {
  it('marks a pilot whose lease expired lost, and queues its running job again as a new attempt', async () => {
    const pilotId = await registerPilot(h);
    const { taskId, messages } = await runningTask(h, generationSpec(1, { maxAttempts: 3 }));
    await claimed(h, pilotId, refOf(nth(messages, 0)));
    const expiresAt = (await h.deps.leases.get(pilotId))?.expiresAt ?? 0;
    const now = pastLeases();

    expect(await reap()).toEqual({ ...QUIET, pilotsLost: 1, jobsRequeued: 1 });

    expect(await h.deps.pilots.get(pilotId)).toMatchObject({
      state: 'lost',
      endedAt: now.toISOString(),
      jobsRun: 0,
    });
    expect(await h.deps.leases.get(pilotId)).toBeUndefined();
    // A lost pilot is the infrastructure's fault: by the default retry rules, no attempt is spent.
    expect(await h.deps.jobs.get(taskId, 0)).toMatchObject({
      state: 'queued',
      attempt: 2,
      failures: 0,
      systemRetries: 1,
      ended: {
        attempt: 1,
        pilotId,
        state: 'lost',
        pilotErrorCode: PILOT_ERROR_CODES.PILOT_LOST,
        errorMessage: `no heartbeat from pilot ${pilotId} since its lease expired at ${new Date(expiresAt).toISOString()}`,
      },
    });
    // The change feed sends the new attempt's message.
    await h.settleJobChanges();
    expect((await h.receiveJobMessages(1, { taskId })).map((m) => m.attempt)).toEqual([2]);
    // The lost pilot's late report changes nothing.
    const late = await complete(h, pilotId, { ...report(refOf(nth(messages, 0))), holds: [] });
    expect(late.body).toEqual({ outcome: 'stale', reason: 'the job is queued at attempt 2' });
  });

  it('fails a job whose free retries and attempts are spent when its pilot is lost', async () => {
    const pilotId = await registerPilot(h);
    const { taskId, messages } = await runningTask(h, generationSpec(1, { maxAttempts: 1 }));
    const ref = refOf(nth(messages, 0));
    await claimed(h, pilotId, ref);
    // Ten retries that spent no attempt already: the default rules' system retry limit.
    await h.deps.jobs.update({ taskId, jobIndex: 0 }, { set: { systemRetries: 10 } }, [
      { state: 'running', attempt: 1 },
    ]);
    pastLeases();

    await reap();

    expect(await h.deps.jobs.get(taskId, 0)).toMatchObject({
      state: 'failed',
      attempt: 1,
      failures: 1,
      pilotErrorCode: PILOT_ERROR_CODES.PILOT_LOST,
    });
  });

  it('fences a claim a lost pilot left in flight: the attempt is abandoned, a late claim is stale', async () => {
    const pilotId = await registerPilot(h);
    const { taskId, messages } = await runningTask(h, generationSpec(1));
    const ref = refOf(nth(messages, 0));
    // The lease was written (the claim's first step), the record never was.
    await h.deps.leases.hold(pilotId, {
      jobs: [`${taskId}.0.1`],
      state: 'busy',
      expiresAt: h.clock.now().getTime() + LEASE_SEC * 1000,
    });
    pastLeases();

    expect(await reap()).toEqual({ ...QUIET, pilotsLost: 1, claimsAbandoned: 1 });

    expect(await h.deps.jobs.get(taskId, 0)).toMatchObject({
      state: 'queued',
      attempt: 2,
      failures: 0,
      ended: { attempt: 1, pilotId, state: 'abandoned', pilotErrorCode: PILOT_ERROR_CODES.CLAIM_ABANDONED },
    });
    const other = await registerPilot(h, { host: 'wn02.test' });
    expect((await claim(h, other, ref)).body).toEqual({
      outcome: 'stale',
      reason: 'the job is queued at attempt 2',
    });
  });

  it('takes a pilot that exited off the leases, recording its end, and queues again what it still held', async () => {
    const pilotId = await registerPilot(h);
    const { taskId, messages } = await runningTask(h, generationSpec(1));
    await claimed(h, pilotId, refOf(nth(messages, 0)));
    const now = h.clock.advance(1000);
    await h.deps.leases.renew(pilotId, {
      state: 'exited',
      expiresAt: now.getTime() + LEASE_SEC * 1000,
      beatAt: now.toISOString(),
      jobsRun: 3,
    });

    expect(await reap()).toEqual({ ...QUIET, pilotsExited: 1, jobsRequeued: 1 });

    expect(await h.deps.pilots.get(pilotId)).toMatchObject({
      state: 'exited',
      endedAt: now.toISOString(),
      jobsRun: 3,
    });
    expect(await h.deps.leases.get(pilotId)).toBeUndefined();
    expect(await h.deps.jobs.get(taskId, 0)).toMatchObject({ state: 'queued', attempt: 2 });
  });

  it('leaves live pilots alone and writes each site its census of live pilots, again only when it changed', async () => {
    await h.addSite({ siteId: 'other-site' });
    await h.addSite({ siteId: 'empty-site' });
    const states = ['starting', 'idle', 'busy', 'draining', 'idle'] as const;
    const pilots: string[] = [];
    for (const state of states) {
      const pilotId = await registerPilot(h);
      if (state !== 'starting') {
        await h.deps.leases.renew(pilotId, {
          state,
          expiresAt: h.clock.now().getTime() + LEASE_SEC * 1000,
          beatAt: h.clock.now().toISOString(),
          jobsRun: 0,
        });
      }
      pilots.push(pilotId);
    }
    await registerPilot(h, { siteId: 'other-site' });
    const at = h.clock.now().toISOString();

    expect(await reap()).toEqual({ ...QUIET, pilotsLive: 6 });

    expect((await h.deps.sites.get(TEST_SITE))?.census).toEqual({
      // Each pilot registered 4 cores and 8000 MB: it can run every class but GPU.
      // Of them, the idle and starting ones (3) cover queued jobs of those classes.
      pilots: {
        starting: 1,
        idle: 2,
        busy: 1,
        draining: 1,
        classes: { himem: 5, mcore: 5, score: 5 },
        idleClasses: { himem: 3, mcore: 3, score: 3 },
      },
      at,
    });
    expect((await h.deps.sites.get('other-site'))?.census).toEqual({
      pilots: {
        starting: 1,
        idle: 0,
        busy: 0,
        draining: 0,
        classes: { himem: 1, mcore: 1, score: 1 },
        idleClasses: { himem: 1, mcore: 1, score: 1 },
      },
      at,
    });
    expect((await h.deps.sites.get('empty-site'))?.census).toEqual({
      pilots: { starting: 0, idle: 0, busy: 0, draining: 0 },
      at,
    });
    for (const pilotId of pilots) expect(await h.deps.leases.get(pilotId)).toBeDefined();

    // Ten seconds on, nothing changed: the census is not written again.
    h.clock.advance(10_000);
    await reap();
    expect((await h.deps.sites.get(TEST_SITE))?.census?.at).toBe(at);

    // A pilot exits: the census changes and is written.
    const later = h.clock.advance(1000);
    await h.deps.leases.renew(nth(pilots, 1), {
      state: 'exited',
      expiresAt: later.getTime(),
      beatAt: later.toISOString(),
      jobsRun: 0,
    });
    expect(await reap()).toEqual({ ...QUIET, pilotsExited: 1, pilotsLive: 5 });
    expect((await h.deps.sites.get(TEST_SITE))?.census).toEqual({
      pilots: {
        starting: 1,
        idle: 1,
        busy: 1,
        draining: 1,
        classes: { himem: 4, mcore: 4, score: 4 },
        idleClasses: { himem: 2, mcore: 2, score: 2 },
      },
      at: later.toISOString(),
    });
  });

  it('sends job messages that went to a DLQ back to their queue, delayed, and leaves malformed ones', async () => {
    const { dlqUrl, queueUrl } = await h.deps.queue.ensureSiteQueue(TEST_SITE);
    const dead = { v: 1, taskId: 't-deadletter1', jobIndex: 0, attempt: 1, siteId: TEST_SITE };
    await h.sqs.send(new SendMessageCommand({ QueueUrl: dlqUrl, MessageBody: JSON.stringify(dead) }));
    await h.sqs.send(new SendMessageCommand({ QueueUrl: dlqUrl, MessageBody: 'garbage' }));

    expect(await reap()).toEqual({ ...QUIET, deadLettersRedriven: 1 });

    const queue = await h.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['All'] }),
    );
    expect(queue.Attributes?.ApproximateNumberOfMessagesDelayed).toBe('1');
    const dlq = await h.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['All'] }),
    );
    // The malformed one stays, visible to an operator reading the DLQ.
    expect(dlq.Attributes?.ApproximateNumberOfMessages).toBe('1');
    expect(dlq.Attributes?.ApproximateNumberOfMessagesNotVisible).toBe('0');
    expect(await reap()).toEqual(QUIET);
  });
});
