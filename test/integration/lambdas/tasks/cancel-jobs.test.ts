import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '#core/errors.ts';
import { pilotHeartbeat } from '#core/pilots/pilot-heartbeat.ts';
import { createHandler } from '#lambdas/tasks/cancel-jobs/handler.ts';
import { createHandlerHarness, type HandlerHarness, invoke } from '#test/support/handler-harness.ts';
import { claimed, generationSpec, nth, refOf, registerPilot, runAttempt, runningTask } from '../task-flow.ts';

let h: HandlerHarness;

beforeAll(async () => {
  h = await createHandlerHarness();
});

afterAll(async () => {
  await h?.close();
});

function cancelJobs(input: unknown) {
  return invoke(createHandler(h.deps), input as { taskId: string; nextIndex: number }, 'cancel-jobs');
}

/**
 * A cancelled task of 4 jobs: 0 running on one pilot, 1 running on another, 2 finished, 3 never
 * claimed; its id and the pilots.
 */
async function cancelledTask(): Promise<{ taskId: string; first: string; second: string }> {
  const { taskId, messages } = await runningTask(h, generationSpec(4));
  const first = await registerPilot(h, { host: 'wn01.test' });
  const second = await registerPilot(h, { host: 'wn02.test' });
  await claimed(h, first, refOf(nth(messages, 0)));
  await claimed(h, second, refOf(nth(messages, 1)));
  await runAttempt(h, second, refOf(nth(messages, 2)));
  await h.deps.tasks.requestCancel(taskId, h.clock.now().toISOString());
  return { taskId, first, second };
}

describe('cancel-jobs handler', () => {
  it('tells the pilot of every running job, through its lease, to kill it, then marks the task swept', async () => {
    const { taskId, first, second } = await cancelledTask();

    expect(await cancelJobs({ taskId, nextIndex: 0 })).toEqual({ nextIndex: 0, done: true });

    expect((await h.deps.leases.get(first))?.kill).toEqual([`${taskId}.0.1|cancelled`]);
    expect((await h.deps.leases.get(second))?.kill).toEqual([`${taskId}.1.1|cancelled`]);
    expect((await h.deps.tasks.getHead(taskId))?.cancelSwept).toBe(true);
    // The finished job and the one never claimed are left as they are.
    expect((await h.deps.jobs.get(taskId, 2))?.state).toBe('finished');
    expect(await h.deps.jobs.get(taskId, 3)).toBeUndefined();

    // The pilot learns it from its next heartbeat, its own write to its lease.
    const answer = await pilotHeartbeat(
      { leases: h.deps.leases, clock: h.clock, leaseSec: h.deps.settings.leaseSec },
      first,
      { state: 'busy', held: [{ taskId, jobIndex: 0, attempt: 1 }], jobsRun: 0 },
    );
    expect(answer).toEqual({
      pilot: 'live',
      jobs: [{ taskId, jobIndex: 0, attempt: 1, action: 'kill-cancelled' }],
      unknown: [],
    });
  });

  it('changes nothing more when it runs again (a restarted execution)', async () => {
    const { taskId, first } = await cancelledTask();
    await cancelJobs({ taskId, nextIndex: 0 });
    const lease = await h.deps.leases.get(first);

    expect(await cancelJobs({ taskId, nextIndex: 0 })).toEqual({ nextIndex: 0, done: true });

    expect(await h.deps.leases.get(first)).toEqual(lease);
  });

  it('starts from the index it is given', async () => {
    const { taskId, first, second } = await cancelledTask();
    await cancelJobs({ taskId, nextIndex: 1 });
    expect((await h.deps.leases.get(first))?.kill).toEqual([]);
    expect((await h.deps.leases.get(second))?.kill).toEqual([`${taskId}.1.1|cancelled`]);
  });

  it('passes over a running job whose pilot is gone, leaving no lease behind', async () => {
    const { taskId, first, second } = await cancelledTask();
    await h.deps.leases.remove(first);

    expect(await cancelJobs({ taskId, nextIndex: 0 })).toEqual({ nextIndex: 0, done: true });

    expect(await h.deps.leases.get(first)).toBeUndefined();
    expect((await h.deps.leases.get(second))?.kill).toEqual([`${taskId}.1.1|cancelled`]);
  });

  it('refuses bad input naming its fields, touching nothing', async () => {
    const { taskId, first } = await cancelledTask();
    const error = await cancelJobs({ taskId: 'task-1', nextIndex: -1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues.map((i) => i.field).sort()).toEqual([
      'input.nextIndex',
      'input.taskId',
    ]);
    expect((error as ValidationError).name).toBe('ValidationError');
    const missing = await cancelJobs({ taskId }).catch((e: unknown) => e);
    expect((missing as ValidationError).issues.map((i) => i.field)).toEqual(['input.nextIndex']);
    expect((await h.deps.leases.get(first))?.kill).toEqual([]);
    expect((await h.deps.tasks.getHead(taskId))?.cancelSwept).toBe(false);
  });
});
