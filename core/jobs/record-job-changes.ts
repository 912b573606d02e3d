import type { Deps } from '../deps.ts';
import type { CountEntry } from '../tasks/ports.ts';
import { releaseWaitIfReady } from '../tasks/release-wait.ts';
import { type Attempt, isFinalJobState } from './job.ts';
import { counterDelta, isEmptyDelta } from './job-counts.ts';
import { type JobMessage, jobMessage } from './job-message.ts';
import type { JobRecordChange } from './ports.ts';

/**
 * The consumer of the job records' change feed (DynamoDB Streams on AWS and locally). For each
 * batch, in order:
 * 1. sends the message of every attempt a record newly queues (a retry, a pilot lost, a claim
 *    abandoned): the write is the truth, and the feed delivers it at least once, so no message
 *    is lost between a write and its send (a duplicate is a no-op for pilots);
 * 2. archives the attempt that ended, as its own record (written once, whatever the replays);
 * 3. moves the task's job counters, exactly once per change (the store skips changes it has seen);
 * 4. releases the task's workflow when its last job became final.
 * A failed batch is delivered again; every step is safe to repeat.
 */
export async function recordJobChanges(
  deps: Pick<Deps, 'tasks' | 'jobs' | 'queue' | 'workflow' | 'clock'>,
  changes: JobRecordChange[],
): Promise<{ dispatched: number; archived: number; counted: number; released: number }> {
  const messages: JobMessage[] = [];
  const attempts: Array<{ taskId: string; jobIndex: number; attempt: Attempt }> = [];
  const counts = new Map<string, { taskId: string; feed: string; entries: CountEntry[] }>();
  const ended = new Set<string>();
  const cancelled = new Map<string, boolean>();

  for (const change of changes) {
    const { before, after } = change;
    const record = after ?? before;
    if (record === undefined) continue;
    const newlyQueued =
      after?.state === 'queued' &&
      (before === undefined || before.state !== 'queued' || before.attempt !== after.attempt);
    if (newlyQueued && after !== undefined) {
      if (!cancelled.has(after.taskId)) {
        const head = await deps.tasks.getHead(after.taskId, { consistent: false });
        cancelled.set(after.taskId, head === undefined || head.cancelRequested);
      }
      if (cancelled.get(after.taskId) === false) {
        const sentAt = deps.clock.now().getTime();
        messages.push(jobMessage(after, after.siteId, sentAt));
      }
    }
    if (after?.ended !== undefined && before?.ended?.attempt !== after.ended.attempt) {
      attempts.push({ taskId: after.taskId, jobIndex: after.jobIndex, attempt: after.ended });
    }
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

  if (messages.length > 0) await deps.queue.send(messages);
  if (attempts.length > 0) await deps.jobs.archiveAttempts(attempts);
  for (const group of counts.values()) await deps.tasks.addJobCounts(group.taskId, group.feed, group.entries);
  let released = 0;
  for (const taskId of ended) if (await releaseWaitIfReady(deps, taskId)) released++;
  return { dispatched: messages.length, archived: attempts.length, counted: counts.size, released };
}
