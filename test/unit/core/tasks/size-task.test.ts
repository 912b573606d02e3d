import { describe, expect, it } from 'vitest';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import { explainTask } from '#core/tasks/explain-task.ts';
import { getTask } from '#core/tasks/read-tasks.ts';
import { resubmitJobs, resubmitTask } from '#core/tasks/resubmit-task.ts';
import { sizeTask } from '#core/tasks/size-task.ts';
import { submitTask } from '#core/tasks/submit-task.ts';
import { parseTaskSpec, type TaskSpecInput } from '#core/tasks/task-spec.ts';
import { finalizeTask } from '#core/tasks/task-workflow.ts';
import { type InMemoryDeps, inMemoryDeps, settleJobChanges } from '#test/support/in-memory-ports.ts';
import {
  addPilot,
  addSite,
  alice,
  BIG_SLOT,
  claimed,
  complete,
  generationSpec,
  jobRef,
  report,
  runningTask,
  taskOf,
} from '../scenario.ts';

/** 1,000 events; scouts of 30 events each, jobs after them of about 600 s. */
function scoutedSpec(fields: Partial<TaskSpecInput> = {}) {
  return parseTaskSpec({
    name: 'scouted',
    payload: { command: 'generate' },
    events: 1000,
    split: { targetWalltimeSec: 600, eventsPerJob: 30 },
    resources: { memoryMB: 1000, walltimeSec: 3600 },
    maxAttempts: 1,
    ...fields,
  });
}

/** 2 s per event (60 s per scout of 30), peak RSS 420 MB. */
const SCOUT_USAGE = { wallTimeSec: 60, cpuTimeSec: 54, maxRssKB: 420 * 1024 };

async function setup(spec = scoutedSpec(), slotMemoryMB = BIG_SLOT.memoryMB) {
  const deps = inMemoryDeps();
  await addSite(deps, { siteId: 'cern', slot: { ...BIG_SLOT, memoryMB: slotMemoryMB } });
  const taskId = await runningTask(deps, spec);
  const pilotId = await addPilot(deps);
  return { deps, taskId, pilotId };
}

/** Runs job `jobIndex`'s first attempt to the end it is given, and counts it. */
async function run(
  deps: InMemoryDeps,
  pilotId: string,
  taskId: string,
  jobIndex: number,
  code: number = PILOT_ERROR_CODES.OK,
  usage = SCOUT_USAGE,
) {
  const job = await claimed(deps, pilotId, jobRef(taskId, jobIndex));
  await complete(
    deps,
    pilotId,
    report(jobRef(taskId, jobIndex), code as 0, { usage, ...(code === 1001 ? { exitCode: 3 } : {}) }),
  );
  await settleJobChanges(deps);
  return job;
}

const sentIndexes = (deps: InMemoryDeps, taskId: string) =>
  deps.queue.sent.filter((m) => m.taskId === taskId).map((m) => m.jobIndex);

describe('a scouted task', () => {
  it('runs its scouts only, then sizes the rest from them and hands those jobs to dispatch', async () => {
    const { deps, taskId, pilotId } = await setup();
    expect((await taskOf(deps, taskId)).jobCount).toBe(3);
    expect(sentIndexes(deps, taskId)).toEqual([0, 1, 2]);
    // Scouts still running: nothing to size yet; the workflow waits for them.
    await run(deps, pilotId, taskId, 0);
    expect(await sizeTask(deps, taskId)).toEqual({ waiting: true });
    expect((await taskOf(deps, taskId)).sizing).toBeUndefined();
    await run(deps, pilotId, taskId, 1);
    await run(deps, pilotId, taskId, 2);

    expect(await sizeTask(deps, taskId)).toEqual({ waiting: true });
    const task = await taskOf(deps, taskId);
    // 600 s / 2 s per event = 300 events a job over the 910 left: 4 jobs; 420 MB + 20 % → 600 MB.
    expect(task).toMatchObject({
      jobCount: 7,
      sizing: {
        unit: 'event',
        perJob: 300,
        jobs: 4,
        memoryMB: 600,
        measured: { scouts: 3, finished: 3, wallSecPerUnit: 2, cpuSecPerUnit: 1.8, peakRssMB: 420 },
        notes: [],
      },
    });
    expect(sentIndexes(deps, taskId)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect((await deps.policies.listActive()).find((e) => e.taskId === taskId)).toMatchObject({
      jobCount: 7,
      released: 7,
    });

    // The jobs after the scouts run with the sizing's events and memory.
    const third = await run(deps, pilotId, taskId, 3);
    expect(third).toMatchObject({ firstEvent: 90, nEvents: 300, resources: { memoryMB: 600 } });
    const last = await claimed(deps, pilotId, jobRef(taskId, 6));
    expect(last).toMatchObject({ firstEvent: 990, nEvents: 10, resources: { memoryMB: 600 } });

    // A replayed step sizes nothing again and sends nothing more.
    const sent = deps.queue.sent.length;
    expect(await sizeTask(deps, taskId)).toEqual({ waiting: true });
    expect(deps.queue.sent.length).toBe(sent);
    expect((await taskOf(deps, taskId)).sizing).toEqual(task.sizing);

    await complete(deps, pilotId, report(jobRef(taskId, 6)));
    for (const jobIndex of [4, 5]) await run(deps, pilotId, taskId, jobIndex);
    await settleJobChanges(deps);
    // Every job final: nothing more to wait for, the task ends done.
    expect(await sizeTask(deps, taskId)).toEqual({ waiting: false });
    expect(await finalizeTask(deps, taskId)).toEqual({ state: 'done' });

    const view = await getTask(deps, alice, taskId);
    expect(view.scouting).toMatchObject({
      state: 'sized',
      scouts: 3,
      unit: 'event',
      targetWalltimeSec: 600,
      measured: { finished: 3, failed: 0, wallSecPerUnit: 2, peakRssMB: 420 },
      perJob: 300,
      jobs: 4,
      memoryMB: 600,
    });
  });

  it('raises the memory of a sized job on its retry, over the sizing’s', async () => {
    const { deps, taskId, pilotId } = await setup(scoutedSpec({ maxAttempts: 2 }));
    for (const jobIndex of [0, 1, 2]) await run(deps, pilotId, taskId, jobIndex);
    await sizeTask(deps, taskId);
    await run(deps, pilotId, taskId, 3, PILOT_ERROR_CODES.MEMORY_EXCEEDED);
    const retry = await claimed(deps, pilotId, jobRef(taskId, 3, 2));
    // 600 MB × 1.5 (the default rule), rounded up to 100 MB.
    expect(retry.resources.memoryMB).toBe(900);
  });

  it('keeps the memory within the smallest slot of its sites, and says so', async () => {
    const { deps, taskId, pilotId } = await setup(scoutedSpec({ resources: { memoryMB: 500 } }), 500);
    for (const jobIndex of [0, 1, 2]) await run(deps, pilotId, taskId, jobIndex);
    await sizeTask(deps, taskId);
    expect((await taskOf(deps, taskId)).sizing).toMatchObject({
      memoryMB: 500,
      notes: ["memory 500 MB, not the 600 MB of peak plus 20%: the smallest slot of the task's sites"],
    });
  });

  it('sizes from the scouts that finished when some failed, and says so', async () => {
    const { deps, taskId, pilotId } = await setup();
    await run(deps, pilotId, taskId, 0);
    await run(deps, pilotId, taskId, 1, PILOT_ERROR_CODES.PAYLOAD_FAILED);
    await run(deps, pilotId, taskId, 2);
    expect(await sizeTask(deps, taskId)).toEqual({ waiting: true });
    expect((await taskOf(deps, taskId)).sizing).toMatchObject({
      jobs: 4,
      measured: { finished: 2, failed: 1 },
      notes: ['sized from 2 of 3 scouts; the others exit code 3 ×1'],
    });
  });

  it('stops when every scout failed: the task fails with their errors, and no other job is sent', async () => {
    const { deps, taskId, pilotId } = await setup();
    for (const jobIndex of [0, 1, 2])
      await run(deps, pilotId, taskId, jobIndex, PILOT_ERROR_CODES.MEMORY_EXCEEDED);
    expect(await sizeTask(deps, taskId)).toEqual({ waiting: false });
    const task = await taskOf(deps, taskId);
    expect(task).toMatchObject({
      state: 'failed',
      jobCount: 3,
      reason:
        'all 3 scout jobs failed; no other job ran (pilot error 1102: payload exceeded its memory limit and was killed ×3)',
    });
    expect(task.sizing).toBeUndefined();
    expect(sentIndexes(deps, taskId)).toEqual([0, 1, 2]);
    expect(await deps.policies.listActive()).toEqual([]);
    // The workflow's finalize step after it changes nothing.
    expect(await finalizeTask(deps, taskId)).toEqual({ state: 'failed' });
    expect((await getTask(deps, alice, taskId)).scouting).toMatchObject({ state: 'not-sized', scouts: 3 });
  });

  it('is sized once its failed scouts, resubmitted with more memory, finish', async () => {
    const { deps, taskId, pilotId } = await setup();
    for (const jobIndex of [0, 1, 2])
      await run(deps, pilotId, taskId, jobIndex, PILOT_ERROR_CODES.MEMORY_EXCEEDED);
    await sizeTask(deps, taskId);
    expect((await taskOf(deps, taskId)).state).toBe('failed');

    await resubmitTask(deps, alice, taskId, { state: 'failed', memoryMB: 2000 });
    await resubmitJobs(deps, taskId, 0, 0);
    await settleJobChanges(deps);
    // The scouts run again (attempt 2, sent by the change feed); meanwhile nothing is sized.
    expect(await sizeTask(deps, taskId)).toEqual({ waiting: true });
    for (const jobIndex of [0, 1, 2]) {
      await claimed(deps, pilotId, jobRef(taskId, jobIndex, 2));
      await complete(deps, pilotId, report(jobRef(taskId, jobIndex, 2), 0, { usage: SCOUT_USAGE }));
    }
    await settleJobChanges(deps);

    expect(await sizeTask(deps, taskId)).toEqual({ waiting: true });
    expect(await taskOf(deps, taskId)).toMatchObject({ state: 'running', jobCount: 7, sizing: { jobs: 4 } });
    // The task left dispatch when it failed: it is back, from its scouts on.
    expect(sentIndexes(deps, taskId).filter((i) => i >= 3)).toEqual([3, 4, 5, 6]);
  });

  it('has gluon why say that the rest waits for the scouts, until it is sized', async () => {
    const { deps, taskId, pilotId } = await setup();
    const waiting =
      'The task runs its 3 scout jobs first: the rest of its events is cut into jobs of about 600 s, sized from what the scouts measure, when they end.';
    expect((await explainTask(deps, alice, taskId)).findings).toContain(waiting);
    for (const jobIndex of [0, 1, 2]) await run(deps, pilotId, taskId, jobIndex);
    await sizeTask(deps, taskId);
    expect((await explainTask(deps, alice, taskId)).findings).not.toContain(waiting);
  });

  it('does nothing for a task that is not scouted, or cancelled', async () => {
    const { deps, taskId } = await setup(generationSpec(2));
    expect(await sizeTask(deps, taskId)).toEqual({ waiting: false });
    expect((await taskOf(deps, taskId)).jobCount).toBe(2);

    const scouted = await submitTask(deps, alice, scoutedSpec());
    await deps.tasks.requestCancel(scouted.taskId, new Date().toISOString());
    expect(await sizeTask(deps, scouted.taskId)).toEqual({ waiting: false });
    expect((await getTask(deps, alice, scouted.taskId)).scouting).toMatchObject({ state: 'scouting' });
  });
});
