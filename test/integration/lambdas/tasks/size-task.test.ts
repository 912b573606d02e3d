// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${firstEvent} placeholders are literal text in task specs
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler as finalizeTaskHandler } from '#lambdas/tasks/finalize-task/handler.ts';
import { createHandler } from '#lambdas/tasks/size-task/handler.ts';
import { createHandlerHarness, type HandlerHarness, invoke } from '#test/support/handler-harness.ts';
import { claimed, FAILED, refOf, registerPilot, runAttempt, runningTask } from '../task-flow.ts';

let h: HandlerHarness;

beforeAll(async () => {
  h = await createHandlerHarness();
});

afterAll(async () => {
  await h?.close();
});

function sizeTask(input: unknown) {
  return invoke(createHandler(h.deps), input as { taskId: string }, 'size-task');
}

/** 1,000 events: 3 scouts of 30, then jobs of about 600 s. */
const SCOUTED = {
  name: 'scouted',
  payload: { command: 'generate', args: ['${firstEvent}', '${nEvents}'] },
  events: 1000,
  split: { targetWalltimeSec: 600, eventsPerJob: 30 },
  resources: { memoryMB: 1000 },
  maxAttempts: 1,
};

/** 2 s per event (60 s for 30), peak RSS 420 MB. */
const SCOUT_USAGE = { wallTimeSec: 60, cpuTimeSec: 54, maxRssKB: 420 * 1024 };

describe('size-task handler', () => {
  it('sizes a scouted task from its scouts once, adds the jobs and sends them through dispatch', async () => {
    const pilotId = await registerPilot(h);
    const { taskId, messages } = await runningTask(h, SCOUTED);
    expect(messages.map((m) => m.jobIndex)).toEqual([0, 1, 2]);
    for (const m of messages) await runAttempt(h, pilotId, refOf(m), { usage: SCOUT_USAGE });
    await h.settleJobChanges();

    expect(await sizeTask({ taskId })).toEqual({ waiting: true });
    const head = await h.deps.tasks.getHead(taskId);
    expect(head).toMatchObject({
      jobCount: 7,
      sizing: { unit: 'event', perJob: 300, jobs: 4, memoryMB: 600, measured: { peakRssMB: 420 } },
    });
    const rest = await h.receiveJobMessages(4, { taskId });
    expect(rest.map((m) => m.jobIndex)).toEqual([3, 4, 5, 6]);
    const job = await claimed(h, pilotId, { taskId, jobIndex: 6, attempt: 1 });
    expect(job).toMatchObject({ firstEvent: 990, nEvents: 10, resources: { memoryMB: 600 } });

    // Replayed: the stored sizing stands, no message is sent twice.
    expect(await sizeTask({ taskId })).toEqual({ waiting: true });
    expect((await h.deps.tasks.getHead(taskId))?.sizing).toEqual(head?.sizing);
    expect(await h.queueDepth()).toBe(0);
  });

  it('fails a task whose scouts all failed, naming their errors, and sends nothing more', async () => {
    const pilotId = await registerPilot(h);
    const { taskId, messages } = await runningTask(h, { ...SCOUTED, split: { ...SCOUTED.split, scouts: 2 } });
    for (const m of messages) await runAttempt(h, pilotId, refOf(m), FAILED);
    await h.settleJobChanges();

    expect(await sizeTask({ taskId })).toEqual({ waiting: false });
    expect(await h.deps.tasks.getHead(taskId)).toMatchObject({
      state: 'failed',
      jobCount: 2,
      reason: 'all 2 scout jobs failed; no other job ran (exit code 3 ×2)',
    });
    expect(await invoke(finalizeTaskHandler(h.deps), { taskId })).toEqual({ state: 'failed' });
    expect(await h.queueDepth()).toBe(0);
    expect((await h.deps.policies.listActive()).map((e) => e.taskId)).not.toContain(taskId);
  });

  it('answers not waiting for a task without scouts, and rejects bad input by name', async () => {
    const { taskId } = await runningTask(h, { ...SCOUTED, split: { eventsPerJob: 500 } });
    expect(await sizeTask({ taskId })).toEqual({ waiting: false });
    await expect(sizeTask({ taskId: 't-unknown00000' })).rejects.toMatchObject({ name: 'NotFoundError' });
    await expect(sizeTask({})).rejects.toMatchObject({
      name: 'ValidationError',
      issues: [{ field: 'input.taskId', message: expect.any(String) }],
    });
  });
});
