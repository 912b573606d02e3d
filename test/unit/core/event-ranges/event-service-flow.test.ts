import { describe, expect, it } from 'vitest';
import type { RangeReport } from '#core/api/event-ranges.ts';
import { ConflictError, PilotGoneError, ValidationError } from '#core/errors.ts';
import { listRanges } from '#core/event-ranges/list-ranges.ts';
import { closeRangeQueue, enqueueRanges, mergeRanges } from '#core/event-ranges/range-workflow.ts';
import { recordRangeChanges } from '#core/event-ranges/record-range-changes.ts';
import { reportRanges } from '#core/event-ranges/report-ranges.ts';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import { submitTask } from '#core/tasks/submit-task.ts';
import { parseTaskSpec, type TaskSpecInput } from '#core/tasks/task-spec.ts';
import { enqueueJobs, finalizeTask, splitTask } from '#core/tasks/task-workflow.ts';
import { type InMemoryDeps, inMemoryDeps } from '#test/support/in-memory-ports.ts';
import {
  addPilot,
  addSite,
  alice,
  bob,
  claimed,
  complete,
  jobRef,
  pilotToken,
  report,
  taskOf,
} from '../scenario.ts';

const token = pilotToken('cern');

function esSpec(fields: Partial<TaskSpecInput['eventService'] & object> = {}, events = 1000) {
  return parseTaskSpec({
    name: 'es',
    payload: { command: 'gen', args: [] },
    events,
    eventService: {
      rangeSize: 100,
      consumers: 2,
      maxRangeAttempts: 2,
      rangesPerMessage: 4,
      merge: { command: 'merge', args: ['${inputFiles}'], rangesPerJob: 6 },
      ...fields,
    },
    outputs: ['h.json'],
  });
}

/** Submit, split, send every range and every consumer job: the task runs. */
async function runningEsTask(deps: InMemoryDeps, spec = esSpec()): Promise<string> {
  const { taskId } = await submitTask(deps, alice, spec);
  const split = await splitTask(deps, taskId);
  expect(split.eventService).toBe(true);
  let ranges = { nextRange: 0, done: false };
  while (!ranges.done) ranges = await enqueueRanges(deps, taskId, ranges.nextRange);
  let jobs = split;
  while (!jobs.done) jobs = await enqueueJobs(deps, taskId, jobs.nextIndex);
  return taskId;
}

function finished(rangeIndex: number, attempt = 1): RangeReport {
  return {
    rangeIndex,
    attempt,
    state: 'finished',
    firstEvent: rangeIndex * 100,
    nEvents: 100,
    output: { key: `tasks/x/ranges/${rangeIndex}/p.a${attempt}/h.json`, bytes: 10, adler32: '0000000a' },
  };
}

function failed(rangeIndex: number, attempt = 1): RangeReport {
  return {
    rangeIndex,
    attempt,
    state: 'failed',
    firstEvent: rangeIndex * 100,
    nEvents: 100,
    errorCode: PILOT_ERROR_CODES.PAYLOAD_FAILED,
    error: 'exit 3',
  };
}

async function settle(deps: InMemoryDeps) {
  return recordRangeChanges(deps, deps.ranges.takeChanges());
}

async function setup(spec = esSpec()) {
  const deps = inMemoryDeps();
  await addSite(deps);
  const taskId = await runningEsTask(deps, spec);
  const pilotId = await addPilot(deps);
  const consumer = await claimed(deps, pilotId, jobRef(taskId, 0));
  return { deps, taskId, pilotId, consumer };
}

describe('an event-service task from split to consumers', () => {
  it('makes the range queue and sends every range once, several to a message, nothing written per range', async () => {
    const { deps, taskId, consumer } = await setup();
    expect(deps.rangeQueue.queues.get(taskId)).toEqual({ visibilitySec: deps.settings.rangeLeaseSec });
    const sent = deps.rangeQueue.sent.get(taskId) ?? [];
    expect(sent.map((m) => m.ranges.length)).toEqual([4, 4, 2]);
    expect(sent.flatMap((m) => m.ranges.map((r) => r.i))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(sent[0]?.ranges[1]).toEqual({ i: 1, a: 1, first: 100, n: 100 });
    expect(deps.ranges.takeChanges()).toEqual([]);
    const task = await taskOf(deps, taskId);
    expect(task).toMatchObject({ jobCount: 2, rangeCount: 10, events: 1000, rangesEnqueued: 10 });
    // The consumer's claim names its range queue and how to run ranges.
    expect(consumer.consumer).toMatchObject({
      rangeQueueUrl: await deps.rangeQueue.queueUrl(taskId),
      mode: 'process-per-range',
      maxRangeAttempts: 2,
      output: 'h.json',
      outputPrefix: `tasks/${taskId}/ranges/`,
    });
  });

  it('cuts ranges within input files and hands consumers the files with their checksums', async () => {
    const spec = parseTaskSpec({
      name: 'es-files',
      payload: { command: 'reco', args: ['${inputFiles}'] },
      inputs: {
        files: [
          { name: 'inputs/a.root', events: 250, adler32: '0000000a', bytes: 10 },
          { name: 'inputs/b.root', events: 100 },
        ],
      },
      eventService: { rangeSize: 100, consumers: 1 },
      outputs: ['h.json'],
    });
    const { deps, taskId, consumer } = await setup(spec);
    const ranges = (deps.rangeQueue.sent.get(taskId) ?? []).flatMap((m) => m.ranges);
    expect(ranges).toEqual([
      { i: 0, a: 1, first: 0, n: 100, file: 'inputs/a.root' },
      { i: 1, a: 1, first: 100, n: 100, file: 'inputs/a.root' },
      { i: 2, a: 1, first: 200, n: 50, file: 'inputs/a.root' },
      { i: 3, a: 1, first: 0, n: 100, file: 'inputs/b.root' },
    ]);
    expect(consumer.inputs).toEqual([
      { name: 'inputs/a.root', events: 250, adler32: '0000000a', bytes: 10 },
      { name: 'inputs/b.root', events: 100 },
    ]);
    expect((await taskOf(deps, taskId)).events).toBe(350);
  });

  it('sends ranges in pages and resumes where it stopped', async () => {
    const deps = inMemoryDeps({ settings: { rangePageSize: 3 } });
    await addSite(deps);
    const { taskId } = await submitTask(deps, alice, esSpec());
    await splitTask(deps, taskId);
    expect(await enqueueRanges(deps, taskId, 0)).toEqual({ nextRange: 3, done: false });
    // A replayed step from the start skips what was sent.
    expect(await enqueueRanges(deps, taskId, 0)).toEqual({ nextRange: 6, done: false });
    expect(await enqueueRanges(deps, taskId, 6)).toEqual({ nextRange: 9, done: false });
    expect(await enqueueRanges(deps, taskId, 9)).toEqual({ nextRange: 10, done: true });
    const indexes = (deps.rangeQueue.sent.get(taskId) ?? []).flatMap((m) => m.ranges.map((r) => r.i));
    expect(indexes).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});

describe('range reports', () => {
  it('counts each finished range once, replays included, and keeps events done exact', async () => {
    const { deps, taskId, pilotId } = await setup();
    const first = await reportRanges(deps, token, pilotId, {
      ...jobRef(taskId, 0),
      ranges: [finished(0), finished(1), finished(2)],
    });
    expect(first.outcomes.map((o) => o.outcome)).toEqual(['recorded', 'recorded', 'recorded']);
    await settle(deps);
    const replay = await reportRanges(deps, token, pilotId, {
      ...jobRef(taskId, 0),
      ranges: [finished(1), finished(2), finished(3)],
    });
    expect(replay.outcomes.map((o) => o.outcome)).toEqual(['duplicate', 'duplicate', 'recorded']);
    expect(replay.remaining).toBe(7);
    await settle(deps);
    // A redelivered feed batch counts nothing twice.
    const task = await taskOf(deps, taskId);
    expect(task.rangeCounters).toMatchObject({ finished: 4, eventsFinished: 400, recorded: 4 });
    const again = await reportRanges(deps, token, pilotId, { ...jobRef(taskId, 0), ranges: [] });
    expect(again).toEqual({ outcomes: [], remaining: 6, cancelled: false });
  });

  it('retries a failed range through the change feed, then makes it fatal and puts it in the DLQ', async () => {
    const { deps, taskId, pilotId } = await setup();
    await reportRanges(deps, token, pilotId, { ...jobRef(taskId, 0), ranges: [failed(5)] });
    expect(await settle(deps)).toMatchObject({ retried: 1, fatal: 0 });
    const retry = deps.rangeQueue.sent.get(taskId)?.at(-1);
    expect(retry?.ranges).toEqual([{ i: 5, a: 2, first: 500, n: 100 }]);
    // A replay of the first failure is a duplicate and sends nothing more.
    const replay = await reportRanges(deps, token, pilotId, { ...jobRef(taskId, 0), ranges: [failed(5)] });
    expect(replay.outcomes[0]).toMatchObject({ outcome: 'duplicate', state: 'failed' });
    expect(await settle(deps)).toMatchObject({ retried: 0 });

    const last = await reportRanges(deps, token, pilotId, { ...jobRef(taskId, 0), ranges: [failed(5, 2)] });
    expect(last.outcomes[0]).toMatchObject({ outcome: 'recorded', state: 'fatal' });
    expect(await settle(deps)).toMatchObject({ retried: 0, fatal: 1 });
    expect(deps.rangeQueue.deadLetters.get(taskId)?.[0]?.ranges).toEqual([
      { i: 5, a: 2, first: 500, n: 100 },
    ]);
    const [record] = await deps.ranges.getMany(taskId, [5]);
    expect(record).toMatchObject({ state: 'fatal', attempt: 2, errorCode: 1001 });
    expect(record?.error).toContain('failed 2 times');
    // Fatal is final: a late finish of the first attempt does not undo it.
    const late = await reportRanges(deps, token, pilotId, { ...jobRef(taskId, 0), ranges: [finished(5)] });
    expect(late.outcomes[0]).toMatchObject({ outcome: 'stale', state: 'fatal' });
    await settle(deps);
    expect((await taskOf(deps, taskId)).rangeCounters).toMatchObject({ fatal: 1, failed: 0, finished: 0 });
  });

  it('takes a finished range from an older attempt (the work is done) but not its late failure', async () => {
    const { deps, taskId, pilotId } = await setup();
    await reportRanges(deps, token, pilotId, { ...jobRef(taskId, 0), ranges: [failed(4)] });
    await settle(deps);
    const zombie = await reportRanges(deps, token, pilotId, {
      ...jobRef(taskId, 0),
      ranges: [finished(4, 1)],
    });
    expect(zombie.outcomes[0]).toMatchObject({ outcome: 'recorded', state: 'finished' });
    const stale = await reportRanges(deps, token, pilotId, { ...jobRef(taskId, 0), ranges: [failed(4, 2)] });
    expect(stale.outcomes[0]).toMatchObject({ outcome: 'stale', state: 'finished' });
  });

  it('notes a long range running, and a running note never undoes a finish', async () => {
    const { deps, taskId, pilotId } = await setup();
    const running: RangeReport = {
      rangeIndex: 7,
      attempt: 1,
      state: 'running',
      firstEvent: 700,
      nEvents: 100,
    };
    expect(
      (await reportRanges(deps, token, pilotId, { ...jobRef(taskId, 0), ranges: [running] })).outcomes[0],
    ).toMatchObject({
      outcome: 'recorded',
    });
    await reportRanges(deps, token, pilotId, { ...jobRef(taskId, 0), ranges: [finished(7)] });
    const late = await reportRanges(deps, token, pilotId, { ...jobRef(taskId, 0), ranges: [running] });
    expect(late.outcomes[0]).toMatchObject({ outcome: 'stale', state: 'finished' });
    await settle(deps);
    expect((await taskOf(deps, taskId)).rangeCounters).toMatchObject({
      running: 0,
      finished: 1,
      recorded: 1,
    });
  });

  it("refuses ranges that are not the task's, naming the field, and writes none of the batch", async () => {
    const { deps, taskId, pilotId } = await setup();
    const wrong = { ...finished(2), firstEvent: 150 };
    const error = await reportRanges(deps, token, pilotId, {
      ...jobRef(taskId, 0),
      ranges: [finished(1), wrong, finished(12)],
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues.map((i) => i.field)).toEqual([
      'ranges.1.firstEvent',
      'ranges.2.rangeIndex',
    ]);
    expect(deps.ranges.takeChanges()).toEqual([]);
  });

  it('refuses a pilot that does not hold a consumer job of the task, and a gone pilot', async () => {
    const { deps, taskId } = await setup();
    const other = await addPilot(deps, 'cern', undefined, 'wn002');
    await expect(
      reportRanges(deps, token, other, { ...jobRef(taskId, 0), ranges: [finished(0)] }),
    ).rejects.toBeInstanceOf(ConflictError);
    await expect(
      reportRanges(deps, token, 'p-nobody00', { ...jobRef(taskId, 0), ranges: [finished(0)] }),
    ).rejects.toBeInstanceOf(PilotGoneError);
    expect(deps.ranges.takeChanges()).toEqual([]);
  });
});

describe('the merge and the end of an event-service task', () => {
  it('adds merge jobs once the consumers ended, hands them their range outputs, and ends done with the merged outputs', async () => {
    const { deps, taskId, pilotId } = await setup();
    await reportRanges(deps, token, pilotId, {
      ...jobRef(taskId, 0),
      ranges: Array.from({ length: 10 }, (_, i) => finished(i)),
    });
    await settle(deps);
    await complete(deps, pilotId, report(jobRef(taskId, 0)));
    const second = await claimed(deps, pilotId, jobRef(taskId, 1));
    expect(second.consumer).toBeDefined();
    await complete(deps, pilotId, report(jobRef(taskId, 1)));

    expect(await mergeRanges(deps, taskId)).toEqual({ waiting: true });
    // Replayed: nothing more to add.
    expect(await mergeRanges(deps, taskId)).toEqual({ waiting: false });
    expect(await taskOf(deps, taskId)).toMatchObject({ jobCount: 4, mergeJobs: 2, jobsEnqueued: 4 });
    expect(deps.queue.sent.slice(-2).map((m) => m.jobIndex)).toEqual([2, 3]);

    const merge = await claimed(deps, pilotId, jobRef(taskId, 3));
    expect(merge.payload).toMatchObject({ command: 'merge', args: ['${inputFiles}'] });
    expect(merge.inputs?.map((i) => i.localName)).toEqual([
      'r6.h.json',
      'r7.h.json',
      'r8.h.json',
      'r9.h.json',
    ]);
    expect(merge.inputs?.[0]).toMatchObject({
      name: 'tasks/x/ranges/6/p.a1/h.json',
      adler32: '0000000a',
      bytes: 10,
    });
    const out = (name: string) => ({
      name: 'h.json',
      key: `tasks/${taskId}/jobs/${name}/h.json`,
      bytes: 99,
      adler32: '00000063',
    });
    await complete(deps, pilotId, report(jobRef(taskId, 3), 0, { outputs: [out('3')] }));
    await claimed(deps, pilotId, jobRef(taskId, 2));
    await complete(deps, pilotId, report(jobRef(taskId, 2), 0, { outputs: [out('2')] }));

    expect(await finalizeTask(deps, taskId)).toEqual({ state: 'done' });
    const task = await taskOf(deps, taskId);
    expect(task.outputs?.map((o) => o.key).sort()).toEqual([out('2').key, out('3').key]);
    expect(await closeRangeQueue(deps, taskId)).toEqual({ closed: true });
    expect(deps.rangeQueue.queues.has(taskId)).toBe(false);
  });

  it('ends partial with the fatal ranges named in the reason, and lists them by state', async () => {
    const { deps, taskId, pilotId } = await setup(esSpec({ maxRangeAttempts: 1 }));
    await reportRanges(deps, token, pilotId, {
      ...jobRef(taskId, 0),
      ranges: [...Array.from({ length: 8 }, (_, i) => finished(i)), failed(8), failed(9)],
    });
    await settle(deps);
    const fatal = await listRanges(deps, alice, taskId, { limit: 100, state: 'fatal' });
    expect(fatal.items.map((r) => r.rangeIndex)).toEqual([8, 9]);
    const all = await listRanges(deps, alice, taskId, { limit: 5 });
    expect(all.items.map((r) => r.state)).toEqual([
      'finished',
      'finished',
      'finished',
      'finished',
      'finished',
    ]);
    expect(all.nextToken).toBe('5');
    await complete(deps, pilotId, report(jobRef(taskId, 0)));
    await claimed(deps, pilotId, jobRef(taskId, 1));
    await complete(deps, pilotId, report(jobRef(taskId, 1)));
    await mergeRanges(deps, taskId);
    for (const jobIndex of [2, 3]) {
      await claimed(deps, pilotId, jobRef(taskId, jobIndex));
      await complete(deps, pilotId, report(jobRef(taskId, jobIndex)));
    }
    expect(await finalizeTask(deps, taskId)).toEqual({ state: 'partial' });
    expect((await taskOf(deps, taskId)).reason).toBe('8 of 10 ranges finished (800 of 1000 events), 2 fatal');
  });

  it('fails a task no range of which finished, without merging', async () => {
    const { deps, taskId, pilotId } = await setup();
    await complete(deps, pilotId, report(jobRef(taskId, 0), PILOT_ERROR_CODES.RANGES_FAILING));
    expect(await mergeRanges(deps, taskId)).toEqual({ waiting: false });
  });

  it('lists ranges without a record as ready, and only for the owner', async () => {
    const { deps, taskId } = await setup();
    const page = await listRanges(deps, alice, taskId, { limit: 3, state: 'ready' });
    expect(page.items).toEqual([
      { rangeIndex: 0, state: 'ready', attempt: 0, firstEvent: 0, nEvents: 100 },
      { rangeIndex: 1, state: 'ready', attempt: 0, firstEvent: 100, nEvents: 100 },
      { rangeIndex: 2, state: 'ready', attempt: 0, firstEvent: 200, nEvents: 100 },
    ]);
    await expect(listRanges(deps, bob, taskId, { limit: 3 })).rejects.toThrow('not found');
  });
});
