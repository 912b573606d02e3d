import { type EndedAttempt, recordUsage } from '../accounting/record-usage.ts';
import { registerJobOutputs } from '../catalog/register-outputs.ts';
import type { Deps } from '../deps.ts';
import { killEntry } from '../pilots/pilot.ts';
import { effectiveResources } from '../policies/retry-policy.ts';
import { outcomeEntriesOf, outcomesKeptFrom } from '../sites/site-outcomes.ts';
import type { CountEntry } from '../tasks/ports.ts';
import { releaseWaitIfReady } from '../tasks/release-wait.ts';
import { jobResources } from '../tasks/split-task.ts';
import type { TaskHead } from '../tasks/task.ts';
import { type Resources, ResourcesSchema, type TaskSpec } from '../tasks/task-spec.ts';
import { endedAttemptOf } from './ended-attempt.ts';
import { type Attempt, attemptKey, isFinalJobState, type JobRecord } from './job.ts';
import { counterDelta, isEmptyDelta } from './job-counts.ts';
import { type JobMessage, jobMessage } from './job-message.ts';
import type { JobRecordChange } from './ports.ts';

/**
 * The consumer of the job records' change feed (DynamoDB Streams on AWS and locally). For each
 * batch, in order:
 * 1. sends the message of every attempt a record newly queues (a retry, a pilot lost, a claim
 *    abandoned): the write is the truth, and the feed delivers it at least once, so no message
 *    is lost between a write and its send (a duplicate is a no-op for pilots); a retry rule's
 *    back-off travels as the message's delay, so no pilot sees it before;
 * 2. archives the attempt that ended, as its own record (written once, whatever the replays);
 * 3. moves the task's job counters, exactly once per change (the store skips changes it has seen);
 *    and counts each ended attempt for its site's health (finished, user or infrastructure
 *    failure), exactly once per change likewise;
 * 4. tells the pilot of a job that started running in a cancelled task to kill it (a claim that
 *    read the task before the cancel and landed after the cancel's sweep passed its job);
 * 5. writes the usage record of every attempt that ended (accounting), with its roll-ups, once
 *    per attempt whatever the replays (the record's key is its attempt);
 * 6. registers each newly finished job's outputs in the task's output dataset (the catalog);
 * 7. releases the task's workflow when its last job became final.
 * Attempt ends are accounted here, not where they are written, because every end (a pilot's
 * report, the reaper's lost pilot, an abandoned claim, a kill) passes through this feed exactly as
 * it was written, and a write that succeeded is never missed (the feed delivers it at least once).
 * A failed batch is delivered again; every step is safe to repeat.
 */
/** What the jobs feed's consumer uses (the use case and its handler share it). */
export type RecordJobChangesDeps = Pick<
  Deps,
  | 'tasks'
  | 'jobs'
  | 'sites'
  | 'queue'
  | 'workflow'
  | 'leases'
  | 'clock'
  | 'policies'
  | 'accounting'
  | 'pilots'
  | 'catalog'
>;

export async function recordJobChanges(
  deps: RecordJobChangesDeps,
  changes: JobRecordChange[],
): Promise<{
  accounted: number;
  dispatched: number;
  archived: number;
  counted: number;
  killed: number;
  released: number;
  outcomes: number;
  registeredOutputs: number;
}> {
  /** Messages by their delay in seconds (a retry's back-off; 0 for most). */
  const messages = new Map<number, JobMessage[]>();
  const attempts: Array<{ taskId: string; jobIndex: number; attempt: Attempt }> = [];
  const endedAttempts: EndedAttempt[] = [];
  const counts = new Map<string, { taskId: string; feed: string; entries: CountEntry[] }>();
  const ended = new Set<string>();
  const cancelled = new Map<string, boolean>();
  const heads = new Map<string, Promise<TaskHead | undefined>>();
  // Consistent: a claim seen here may have landed just after the cancel was written.
  const headOf = (taskId: string) =>
    cachedIn(heads, taskId, () => deps.tasks.getHead(taskId, { consistent: true }));
  const isCancelled = async (taskId: string): Promise<boolean> => {
    let known = cancelled.get(taskId);
    if (known === undefined) {
      const head = await headOf(taskId);
      known = head === undefined || head.cancelRequested;
      cancelled.set(taskId, known);
    }
    return known;
  };
  const kills = new Map<string, string[]>();
  // A retry's message says what the attempt needs (its resource class): the job's resources (the
  // spec's, or a scouted task's sizing), as its retries raised them.
  const specs = new Map<string, Promise<TaskSpec | undefined>>();
  const needsOf = async (record: JobRecord): Promise<Resources> => {
    const [spec, head] = await Promise.all([
      cachedIn(specs, record.taskId, () => deps.tasks.getSpec(record.taskId)),
      headOf(record.taskId),
    ]);
    const resources =
      spec === undefined ? ResourcesSchema.parse({}) : jobResources(spec, head?.sizing, record.jobIndex);
    return effectiveResources(resources, record);
  };

  for (const change of changes) {
    const { before, after } = change;
    const record = after ?? before;
    if (record === undefined) continue;
    const newlyQueued =
      after?.state === 'queued' &&
      (before === undefined || before.state !== 'queued' || before.attempt !== after.attempt);
    if (newlyQueued && after !== undefined && !(await isCancelled(after.taskId))) {
      const delaySec = after.backoffSec ?? 0;
      const list = messages.get(delaySec) ?? [];
      list.push(jobMessage(after, after.siteId, deps.clock.now().getTime(), await needsOf(after)));
      messages.set(delaySec, list);
    }
    const newlyRunning =
      after?.state === 'running' &&
      after.pilotId !== undefined &&
      (before === undefined || before.state !== 'running' || before.attempt !== after.attempt);
    if (newlyRunning && after?.pilotId !== undefined && (await isCancelled(after.taskId))) {
      const entries = kills.get(after.pilotId) ?? [];
      entries.push(killEntry(attemptKey(after), 'cancelled'));
      kills.set(after.pilotId, entries);
    }
    if (after?.ended !== undefined && before?.ended?.attempt !== after.ended.attempt) {
      attempts.push({ taskId: after.taskId, jobIndex: after.jobIndex, attempt: after.ended });
    }
    const endedAttempt = endedAttemptOf(change);
    if (endedAttempt !== undefined) endedAttempts.push(endedAttempt);
    const delta = counterDelta(before, after);
    if (!isEmptyDelta(delta)) {
      const key = `${record.taskId}\u0000${change.feed}`;
      const group = counts.get(key) ?? { taskId: record.taskId, feed: change.feed, entries: [] };
      group.entries.push({ seq: change.seq, delta });
      counts.set(key, group);
    }
    if ((after !== undefined && isFinalJobState(after.state)) || before?.state === 'running')
      ended.add(record.taskId);
  }

  for (const [delaySec, delayed] of messages)
    await deps.queue.send(delayed, delaySec > 0 ? { delaySec } : undefined);
  await Promise.all([...kills].map(([pilotId, entries]) => deps.leases.addKills(pilotId, entries)));
  if (attempts.length > 0) await deps.jobs.archiveAttempts(attempts);
  for (const group of counts.values()) await deps.tasks.addJobCounts(group.taskId, group.feed, group.entries);
  const now = deps.clock.now();
  const keepFrom = outcomesKeptFrom(now);
  const outcomes = outcomeEntriesOf(changes, keepFrom);
  for (const group of outcomes.values()) {
    await deps.sites.addOutcomes(group.siteId, group.feed, group.entries, {
      at: now.toISOString(),
      keepFrom,
    });
  }
  const usage = await recordUsage(deps, endedAttempts);
  // Before the release: a task's last outputs are in its dataset before its end closes it.
  const outputs = await registerJobOutputs(deps, changes);
  let released = 0;
  for (const taskId of ended) if (await releaseWaitIfReady(deps, taskId)) released++;
  const killed = [...kills.values()].reduce((n, entries) => n + entries.length, 0);
  const dispatched = [...messages.values()].reduce((n, list) => n + list.length, 0);
  return {
    accounted: usage.recorded,
    dispatched,
    archived: attempts.length,
    counted: counts.size,
    killed,
    released,
    outcomes: [...outcomes.values()].reduce((n, group) => n + group.entries.length, 0),
    registeredOutputs: outputs.registered,
  };
}

/** The promise cached under `key` in `cache`, made by `make` the first time. */
function cachedIn<V>(cache: Map<string, Promise<V>>, key: string, make: () => Promise<V>): Promise<V> {
  let value = cache.get(key);
  if (value === undefined) {
    value = make();
    cache.set(key, value);
  }
  return value;
}
