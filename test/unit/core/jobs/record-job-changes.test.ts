import { describe, expect, it } from 'vitest';
import { abandonClaim } from '#core/jobs/end-attempt.ts';
import type { JobRecord } from '#core/jobs/job.ts';
import { emptyJobCounts } from '#core/jobs/job-counts.ts';
import { type JobMessage, messageClass } from '#core/jobs/job-message.ts';
import type { JobRecordChange } from '#core/jobs/ports.ts';
import { recordJobChanges } from '#core/jobs/record-job-changes.ts';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import { putRetryPolicy } from '#core/policies/retry-policy-versions.ts';
import { RetryRuleSetSchema } from '#core/policies/retry-rules.ts';
import { waitForJobs } from '#core/tasks/task-workflow.ts';
import { inMemoryDeps } from '#test/support/in-memory-ports.ts';
import {
  addPilot,
  addSite,
  claimed,
  complete,
  countsOf,
  generationSpec,
  report,
  runningTask,
} from '../scenario.ts';

const LATER = '2026-01-01T00:05:00.000Z';

/** A running task of `jobs` jobs, every message sent; the queue and the change feed start empty. */
async function setup(jobs = 3) {
  const deps = inMemoryDeps();
  await addSite(deps);
  const taskId = await runningTask(deps, generationSpec(jobs));
  const pilotId = await addPilot(deps);
  deps.queue.clear();
  return { deps, taskId, pilotId };
}

describe('recordJobChanges', () => {
  it("sends each retry after its rule's back-off, one send per delay, and the others at once", async () => {
    const { deps, taskId, pilotId } = await setup();
    await putRetryPolicy(
      deps,
      { sub: 'operator', scopes: [] },
      RetryRuleSetSchema.parse({
        rules: [
          { match: { exitCodes: [10] }, action: { type: 'retry', backoffSec: 10 } },
          { match: { exitCodes: [20] }, action: { type: 'retry', backoffSec: 900 } },
        ],
      }),
    );
    for (const [jobIndex, exitCode] of [10, 20, 30].entries()) {
      const ref = { taskId, jobIndex, attempt: 1 };
      await claimed(deps, pilotId, ref);
      await complete(deps, pilotId, report(ref, PILOT_ERROR_CODES.PAYLOAD_FAILED, { exitCode }));
    }
    const done = await recordJobChanges(deps, deps.jobs.takeChanges());
    expect(done.dispatched).toBe(3);
    expect(deps.queue.delayed.map((d) => [d.message.jobIndex, d.delaySec])).toEqual([
      [0, 10],
      [1, 900],
    ]);
    expect(deps.queue.sent.map((m) => m.jobIndex).sort()).toEqual([0, 1, 2]);
  });

  it('moves the counters of a first claim, and sends and archives nothing', async () => {
    const { deps, taskId, pilotId } = await setup();
    await claimed(deps, pilotId, { taskId, jobIndex: 0, attempt: 1 });
    expect(await countsOf(deps, taskId)).toEqual({ ...emptyJobCounts(), queued: 3 });
    const done = await recordJobChanges(deps, deps.jobs.takeChanges());
    expect(done).toEqual({
      accounted: 0,
      dispatched: 0,
      archived: 0,
      counted: 1,
      killed: 0,
      released: 0,
      outcomes: 0,
      registeredOutputs: 0,
    });
    expect((await deps.leases.get(pilotId))?.kill).toEqual([]);
    expect(await countsOf(deps, taskId)).toEqual({ ...emptyJobCounts(), queued: 2, running: 1 });
    expect(deps.queue.sent).toEqual([]);
  });

  it('sends a retry given more memory to the high-memory queue of its site: the class follows what the attempt needs', async () => {
    const { deps, taskId, pilotId } = await setup();
    const first = { taskId, jobIndex: 1, attempt: 1 };
    await claimed(deps, pilotId, first);
    await complete(deps, pilotId, report(first, PILOT_ERROR_CODES.MEMORY_EXCEEDED));
    await recordJobChanges(deps, deps.jobs.takeChanges());
    const [message] = deps.queue.sent;
    expect(message).toMatchObject({ taskId, jobIndex: 1, attempt: 2, siteId: 'cern' });
    expect(message?.needs?.memoryMB).toBeGreaterThan(2000);
    expect(messageClass(message as JobMessage)).toBe('himem');
  });

  it('sends the message of a retry to the job site and archives the attempt that ended', async () => {
    const { deps, taskId, pilotId } = await setup();
    const first = { taskId, jobIndex: 1, attempt: 1 };
    await claimed(deps, pilotId, first);
    deps.clock.set(LATER);
    await complete(deps, pilotId, report(first, PILOT_ERROR_CODES.PAYLOAD_FAILED));
    const done = await recordJobChanges(deps, deps.jobs.takeChanges());
    expect(done).toMatchObject({ dispatched: 1, archived: 1 });
    expect(deps.queue.sent).toEqual([
      {
        v: 1,
        taskId,
        jobIndex: 1,
        attempt: 2,
        siteId: 'cern',
        sentAt: Date.parse(LATER),
        needs: { cores: 1, memoryMB: 2000 },
      },
    ]);
    expect(await deps.jobs.attempts(taskId, 1)).toEqual([
      expect.objectContaining({ attempt: 1, pilotId, state: 'failed', pilotErrorCode: 1001, endedAt: LATER }),
    ]);
    expect(await countsOf(deps, taskId)).toEqual({ ...emptyJobCounts(), queued: 3 });
  });

  it('sends the next attempt of a claim abandoned before its record was written', async () => {
    const { deps, taskId, pilotId } = await setup();
    await abandonClaim(deps, { taskId, jobIndex: 2, attempt: 1 }, pilotId, 'cern');
    await recordJobChanges(deps, deps.jobs.takeChanges());
    expect(deps.queue.sent).toEqual([
      expect.objectContaining({ taskId, jobIndex: 2, attempt: 2, siteId: 'cern' }),
    ]);
    expect(await deps.jobs.attempts(taskId, 2)).toEqual([
      expect.objectContaining({ attempt: 1, state: 'abandoned' }),
    ]);
    expect(await countsOf(deps, taskId)).toEqual({ ...emptyJobCounts(), queued: 3 });
  });

  it('sends nothing for an attempt queued after its task was cancelled, but still counts it', async () => {
    const { deps, taskId, pilotId } = await setup();
    const first = { taskId, jobIndex: 0, attempt: 1 };
    await claimed(deps, pilotId, first);
    await recordJobChanges(deps, deps.jobs.takeChanges());
    await complete(deps, pilotId, report(first, PILOT_ERROR_CODES.EVICTED));
    await deps.tasks.requestCancel(taskId, LATER);
    const done = await recordJobChanges(deps, deps.jobs.takeChanges());
    expect(done).toMatchObject({ dispatched: 0, archived: 1, counted: 1 });
    expect(deps.queue.sent).toEqual([]);
    expect(await countsOf(deps, taskId)).toEqual({ ...emptyJobCounts(), cancelled: 3 });
  });

  it('tells the pilot to kill a job whose claim landed after its task was cancelled', async () => {
    const { deps, taskId, pilotId } = await setup();
    // The claim read the task before the cancel, and the cancel's sweep passed before the claim's
    // write: only the feed sees the running job after the cancel.
    await claimed(deps, pilotId, { taskId, jobIndex: 1, attempt: 1 });
    const changes = deps.jobs.takeChanges();
    await deps.tasks.requestCancel(taskId, LATER);
    await deps.tasks.markCancelSwept(taskId, LATER);
    const done = await recordJobChanges(deps, changes);
    expect(done).toMatchObject({ killed: 1 });
    expect((await deps.leases.get(pilotId))?.kill).toEqual([`${taskId}.1.1|cancelled`]);
  });

  it('sends nothing for a job of a task that no longer exists', async () => {
    const { deps, pilotId } = await setup();
    await abandonClaim(deps, { taskId: 't-999999', jobIndex: 0, attempt: 1 }, pilotId, 'cern');
    expect((await recordJobChanges(deps, deps.jobs.takeChanges())).dispatched).toBe(0);
    expect(deps.queue.sent).toEqual([]);
  });

  it('counts a batch delivered again only once, archives its attempt once and sends its message again', async () => {
    const { deps, taskId, pilotId } = await setup();
    const first = { taskId, jobIndex: 0, attempt: 1 };
    await claimed(deps, pilotId, first);
    await complete(deps, pilotId, report(first, PILOT_ERROR_CODES.PAYLOAD_FAILED));
    const changes = deps.jobs.takeChanges();
    await recordJobChanges(deps, changes);
    const counts = await countsOf(deps, taskId);
    await recordJobChanges(deps, changes);
    expect(await countsOf(deps, taskId)).toEqual(counts);
    expect(await deps.jobs.attempts(taskId, 0)).toHaveLength(1);
    // At least once: a duplicate message is refused as stale by the claim.
    expect(deps.queue.sent.map((m) => m.attempt)).toEqual([2, 2]);
  });

  it('counts the changes of every feed, each by its own sequence', async () => {
    const { deps, taskId, pilotId } = await setup();
    await claimed(deps, pilotId, { taskId, jobIndex: 0, attempt: 1 });
    await claimed(deps, pilotId, { taskId, jobIndex: 1, attempt: 1 });
    const [a, b] = deps.jobs.takeChanges();
    if (a === undefined || b === undefined) return expect.fail('two changes expected');
    const done = await recordJobChanges(deps, [
      { ...a, feed: 'shard-a', seq: '7' },
      { ...b, feed: 'shard-b', seq: '7' },
    ]);
    expect(done.counted).toBe(2);
    expect(await countsOf(deps, taskId)).toEqual({ ...emptyJobCounts(), queued: 1, running: 2 });
  });

  it('counts every ended attempt for its site once, retried or final, whatever the redeliveries', async () => {
    const { deps, taskId, pilotId } = await setup();
    for (const [jobIndex, code] of [
      [0, PILOT_ERROR_CODES.STAGE_IN_FAILED],
      [1, PILOT_ERROR_CODES.OK],
      [2, PILOT_ERROR_CODES.PAYLOAD_FAILED],
    ] as const) {
      await claimed(deps, pilotId, { taskId, jobIndex, attempt: 1 });
      await complete(deps, pilotId, report({ taskId, jobIndex, attempt: 1 }, code));
    }
    const changes = deps.jobs.takeChanges();
    expect((await recordJobChanges(deps, changes)).outcomes).toBe(3);
    await recordJobChanges(deps, changes);
    await recordJobChanges(deps, changes.slice(2));
    // Job 0 and 2 are retried (new attempts queued), job 1 finished: three ends, counted once each.
    expect((await deps.sites.outcomes('cern')).buckets).toEqual({
      '2026-01-01T00:00:00.000Z': { stageIn: 1, finished: 1, userFailed: 1 },
    });
  });

  it('skips a change with no record before or after', async () => {
    const { deps } = await setup();
    expect(await recordJobChanges(deps, [{ feed: 'memory', seq: '1' }])).toEqual({
      accounted: 0,
      dispatched: 0,
      archived: 0,
      counted: 0,
      killed: 0,
      released: 0,
      outcomes: 0,
      registeredOutputs: 0,
    });
  });

  it('sends, archives and counts nothing when a queued record changes without a new attempt', async () => {
    const { deps, taskId } = await setup();
    const queued: JobRecord = {
      taskId,
      jobIndex: 0,
      state: 'queued',
      attempt: 2,
      failures: 1,
      siteId: 'cern',
      updatedAt: LATER,
      ended: {
        attempt: 1,
        pilotId: 'p-000001',
        siteId: 'cern',
        state: 'failed',
        startedAt: LATER,
        endedAt: LATER,
        pilotErrorCode: PILOT_ERROR_CODES.PAYLOAD_FAILED,
      },
    };
    const change: JobRecordChange = {
      feed: 'memory',
      seq: '1',
      before: queued,
      after: { ...queued, resources: { memoryMB: 3000 } },
    };
    expect(await recordJobChanges(deps, [change])).toEqual({
      accounted: 0,
      dispatched: 0,
      archived: 0,
      counted: 0,
      killed: 0,
      released: 0,
      outcomes: 0,
      registeredOutputs: 0,
    });
    expect(deps.queue.sent).toEqual([]);
  });

  it('releases the workflow wait when the last job becomes final, and not before', async () => {
    const { deps, taskId, pilotId } = await setup(2);
    await waitForJobs(deps, taskId, 'wait-1');
    const job0 = { taskId, jobIndex: 0, attempt: 1 };
    const job1 = { taskId, jobIndex: 1, attempt: 1 };
    await claimed(deps, pilotId, job0);
    await claimed(deps, pilotId, job1, { holds: [job0] });
    await complete(deps, pilotId, report(job0), [job1]);
    expect((await recordJobChanges(deps, deps.jobs.takeChanges())).released).toBe(0);
    await complete(deps, pilotId, report(job1, PILOT_ERROR_CODES.PAYLOAD_FAILED));
    expect((await recordJobChanges(deps, deps.jobs.takeChanges())).released).toBe(0);
    expect(deps.workflow.releases).toEqual([]);
    const retry = { taskId, jobIndex: 1, attempt: 2 };
    await claimed(deps, pilotId, retry);
    await complete(deps, pilotId, report(retry));
    expect((await recordJobChanges(deps, deps.jobs.takeChanges())).released).toBe(1);
    expect(deps.workflow.releases).toEqual([{ token: 'wait-1', output: { taskId, sweep: false } }]);
  });

  it('releases nothing while the workflow has not stored its wait token', async () => {
    const { deps, taskId, pilotId } = await setup(1);
    const only = { taskId, jobIndex: 0, attempt: 1 };
    await claimed(deps, pilotId, only);
    await complete(deps, pilotId, report(only));
    expect((await recordJobChanges(deps, deps.jobs.takeChanges())).released).toBe(0);
    expect(deps.workflow.releases).toEqual([]);
  });
});
