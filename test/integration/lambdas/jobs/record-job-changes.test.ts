import { marshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobStreamEvent } from '#adapters/dynamodb/job-change-feed.ts';
import { TransientError, ValidationError } from '#core/errors.ts';
import type { JobRecord } from '#core/jobs/job.ts';
import type { TaskStore } from '#core/tasks/ports.ts';
import { createHandler } from '#lambdas/jobs/record-job-changes/handler.ts';
import {
  createHandlerHarness,
  type HandlerHarness,
  invoke,
  TEST_SITE,
} from '#test/support/handler-harness.ts';
import {
  claimed,
  complete,
  FAILED,
  generationSpec,
  nth,
  refOf,
  registerPilot,
  report,
  runAttempt,
  runningTask,
  waitForJobs,
} from '../task-flow.ts';

let h: HandlerHarness;
let pilotId: string;

beforeAll(async () => {
  h = await createHandlerHarness();
  pilotId = await registerPilot(h);
  // Whatever the set-up wrote is not what these tests feed.
  await h.readJobChanges();
});

afterAll(async () => {
  await h?.close();
});

/** Hands the events to the handler one after the other (a shard's batches come in order); the answers. */
async function deliver(events: JobStreamEvent[], deps = h.deps): Promise<unknown[]> {
  const handler = createHandler(deps);
  const answers: unknown[] = [];
  for (const event of events) answers.push(await invoke(handler, event, 'record-job-changes'));
  return answers;
}

async function countsOf(taskId: string) {
  return (await h.deps.tasks.get(taskId))?.counts;
}

describe('record-job-changes handler', () => {
  it('counts the changes of the events read from the jobs table stream, and answers the window state', async () => {
    const { taskId, messages } = await runningTask(h, generationSpec(3));
    await runAttempt(h, pilotId, refOf(nth(messages, 0)));
    await claimed(h, pilotId, refOf(nth(messages, 1)));
    const events = await h.readJobChanges();
    expect(events.flatMap((e) => e.Records.map((r) => r.eventName))).toEqual(['INSERT', 'MODIFY', 'INSERT']);
    expect(events.every((e) => e.shardId.length > 0)).toBe(true);
    expect(await countsOf(taskId)).toMatchObject({ queued: 3, running: 0, finished: 0 });

    expect(await deliver(events)).toEqual(events.map(() => ({ state: {} })));

    expect(await countsOf(taskId)).toEqual({
      defined: 0,
      queued: 1,
      running: 1,
      finished: 1,
      failed: 0,
      cancelled: 0,
    });
  });

  it('counts a batch delivered again only once', async () => {
    const { taskId, messages } = await runningTask(h, generationSpec(2));
    await runAttempt(h, pilotId, refOf(nth(messages, 0)));
    const events = await h.readJobChanges();
    await deliver(events);
    const once = await countsOf(taskId);
    expect(once).toMatchObject({ queued: 1, finished: 1 });

    await deliver(events);
    await deliver(events);

    expect(await countsOf(taskId)).toEqual(once);
  });

  it('sends the message of an attempt queued again and archives the attempt that ended, once per attempt', async () => {
    const { taskId, messages } = await runningTask(h, generationSpec(1, { maxAttempts: 3 }));
    const ref = refOf(nth(messages, 0));
    await runAttempt(h, pilotId, ref, FAILED);
    const ended = (await h.deps.jobs.get(taskId, 0))?.ended;
    const now = h.clock.advance(2000);
    const events = await h.readJobChanges();

    await deliver(events);

    expect(await h.receiveJobMessages(1, { taskId })).toEqual([
      {
        v: 1,
        taskId,
        jobIndex: 0,
        attempt: 2,
        siteId: TEST_SITE,
        sentAt: now.getTime(),
        needs: { cores: 1, memoryMB: 2000 },
      },
    ]);
    expect(await h.deps.jobs.attempts(taskId, 0)).toEqual([ended]);
    expect(await countsOf(taskId)).toMatchObject({ queued: 1, running: 0, failed: 0 });

    await deliver(events);
    expect(await h.deps.jobs.attempts(taskId, 0)).toEqual([ended]);
    expect(await countsOf(taskId)).toMatchObject({ queued: 1, running: 0, failed: 0 });
    await h.receiveJobMessages(1, { taskId });
  });

  it('sends no message for an attempt queued again once its task is cancelled', async () => {
    const { taskId, messages } = await runningTask(h, generationSpec(1, { maxAttempts: 3 }));
    await runAttempt(h, pilotId, refOf(nth(messages, 0)), FAILED);
    await h.deps.tasks.requestCancel(taskId, h.clock.now().toISOString());

    await deliver(await h.readJobChanges());

    expect(await h.queueDepth()).toBe(0);
    expect(await h.deps.jobs.attempts(taskId, 0)).toHaveLength(1);
    expect(await countsOf(taskId)).toMatchObject({ cancelled: 1, running: 0, queued: 0 });
  });

  it('releases the waiting workflow when the last job became final, and not before', async () => {
    const { taskId, messages } = await runningTask(h, generationSpec(2));
    await waitForJobs(h, taskId, 'token-feed');
    await runAttempt(h, pilotId, refOf(nth(messages, 0)));
    await deliver(await h.readJobChanges());
    expect(h.workflow.releasesOf(taskId)).toEqual([]);

    await runAttempt(h, pilotId, refOf(nth(messages, 1)), { pilotErrorCode: 1401 });
    await deliver(await h.readJobChanges());

    expect(h.workflow.releasesOf(taskId)).toEqual([
      { token: 'token-feed', output: { taskId, sweep: false } },
    ]);
  });

  it('takes events built in the Lambda shape, counting each change of a shard once even when batches overlap', async () => {
    const { taskId } = await runningTask(h, generationSpec(4));
    const at = h.clock.now().toISOString();
    const running = (jobIndex: number): JobRecord => ({
      taskId,
      jobIndex,
      state: 'running',
      attempt: 1,
      failures: 0,
      siteId: TEST_SITE,
      pilotId: 'p-lambdashape',
      startedAt: at,
      updatedAt: at,
    });
    const finished = (jobIndex: number): JobRecord => ({
      ...running(jobIndex),
      state: 'finished',
      endedAt: at,
    });
    const record = (
      eventName: 'INSERT' | 'MODIFY',
      seq: string,
      before: JobRecord | undefined,
      after: JobRecord,
    ) => ({
      eventID: `event-${seq}`,
      eventName,
      eventVersion: '1.1',
      eventSource: 'aws:dynamodb',
      awsRegion: 'us-east-1',
      dynamodb: {
        ApproximateCreationDateTime: 1_764_000_000,
        Keys: marshall({ taskId, jobIndex: after.jobIndex }),
        SequenceNumber: seq,
        SizeBytes: 200,
        StreamViewType: 'NEW_AND_OLD_IMAGES',
        NewImage: marshall(after, { removeUndefinedValues: true }),
        ...(before === undefined ? {} : { OldImage: marshall(before, { removeUndefinedValues: true }) }),
      },
      eventSourceARN: 'arn:aws:dynamodb:us-east-1:000000000000:table/jobs/stream/2026-11-25T00:00:00.000',
    });
    const window = { start: '2026-11-25T10:00:00Z', end: '2026-11-25T10:01:00Z' };
    const shard = 'shardId-00000001764000000000-built';
    const first = {
      shardId: shard,
      window,
      state: {},
      isFinalInvokeForWindow: false,
      isWindowTerminatedEarly: false,
      Records: [
        record('INSERT', '100000000000000000001', undefined, running(0)),
        record('INSERT', '100000000000000000002', undefined, running(1)),
        record('MODIFY', '100000000000000000003', running(0), finished(0)),
      ],
    } as JobStreamEvent;
    const overlapping = {
      ...first,
      Records: [
        record('MODIFY', '100000000000000000003', running(0), finished(0)),
        record('MODIFY', '100000000000000000004', running(1), finished(1)),
      ],
    } as JobStreamEvent;

    await deliver([first]);
    expect(await countsOf(taskId)).toEqual({
      defined: 0,
      queued: 2,
      running: 1,
      finished: 1,
      failed: 0,
      cancelled: 0,
    });
    await deliver([overlapping]);
    expect(await countsOf(taskId)).toEqual({
      defined: 0,
      queued: 2,
      running: 0,
      finished: 2,
      failed: 0,
      cancelled: 0,
    });

    // The same positions in another shard are other changes.
    await deliver([
      {
        ...first,
        shardId: 'shardId-00000001764000000000-other',
        Records: [record('INSERT', '100000000000000000001', undefined, running(2))],
      } as JobStreamEvent,
    ]);
    expect(await countsOf(taskId)).toMatchObject({ queued: 1, running: 1, finished: 2 });
  });

  it('answers an event without records with the window state, doing nothing', async () => {
    expect(await deliver([{ shardId: 'shardId-empty', Records: [] }])).toEqual([{ state: {} }]);
  });

  it('refuses a malformed event, naming its fields, and records nothing of it', async () => {
    const { taskId } = await runningTask(h, generationSpec(1));
    const image = marshall({
      taskId,
      jobIndex: 0,
      state: 'running',
      attempt: 1,
      failures: 0,
      siteId: TEST_SITE,
      updatedAt: 'x',
    });
    const error = await deliver([
      {
        Records: [
          { eventName: 'INSERT', dynamodb: { SequenceNumber: '7', NewImage: image } },
          { eventName: 'UPSERT', dynamodb: { SequenceNumber: 'eight', NewImage: image } },
        ],
      } as unknown as JobStreamEvent,
    ]).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues.map((i) => i.field).sort()).toEqual([
      'event.Records.1.dynamodb.SequenceNumber',
      'event.Records.1.eventName',
      'event.shardId',
    ]);
    expect(await countsOf(taskId)).toMatchObject({ queued: 1, running: 0 });
  });

  it('fails a batch when a store fails, so that it comes again, and counts it once when it does', async () => {
    const { taskId, messages } = await runningTask(h, generationSpec(1));
    const ref = refOf(nth(messages, 0));
    await claimed(h, pilotId, ref);
    await complete(h, pilotId, { ...report(ref), holds: [] });
    const events = await h.readJobChanges();
    const failing: TaskStore = Object.assign(Object.create(h.deps.tasks) as TaskStore, {
      addJobCounts: async () => {
        throw new TransientError('count job changes: throttled');
      },
    });

    await expect(deliver(events, { ...h.deps, tasks: failing })).rejects.toBeInstanceOf(TransientError);
    expect(await countsOf(taskId)).toMatchObject({ queued: 1, finished: 0 });

    await deliver(events);
    expect(await countsOf(taskId)).toMatchObject({ queued: 0, running: 0, finished: 1 });
  });
});
