import type { Deps } from '../deps.ts';
import type { RangeCountEntry } from '../tasks/ports.ts';
import { isFinalTaskState } from '../tasks/task.ts';
import { type RangeMessage, type RangeRecord, rangeMessages } from './event-range.ts';
import type { RangeRecordChange } from './ports.ts';
import { rangeCounterDelta } from './range-counts.ts';

/** Retried ranges are few and scattered: they travel together per batch, 10 to a message. */
const RETRY_RANGES_PER_MESSAGE = 10;

/**
 * The consumer of the range records' change feed. For each batch:
 * 1. sends the retry of every range a record newly marks failed (attempt + 1): the write is the
 *    truth and the feed delivers it at least once, so no retry is lost between a report and a send;
 * 2. puts the message of every range that became fatal into its task's DLQ, for operators;
 * 3. moves the task's range counters, exactly once per change (the store skips changes it has seen).
 * A failed batch is delivered again; every step is safe to repeat (a duplicate range message is
 * counted once: its second report is a duplicate).
 */
export async function recordRangeChanges(
  deps: Pick<Deps, 'tasks' | 'rangeQueue'>,
  changes: RangeRecordChange[],
): Promise<{ retried: number; fatal: number; counted: number }> {
  const retries = new Map<string, RangeRecord[]>();
  const fatal = new Map<string, RangeRecord[]>();
  const counts = new Map<string, { taskId: string; feed: string; entries: RangeCountEntry[] }>();
  const heads = new Map<string, { live: boolean; open: boolean }>();
  /** Live: ranges are still wanted (retries sent); open: its queues still exist (not final). */
  const statusOf = async (taskId: string): Promise<{ live: boolean; open: boolean }> => {
    let known = heads.get(taskId);
    if (known === undefined) {
      const head = await deps.tasks.getHead(taskId);
      const open = head !== undefined && !isFinalTaskState(head.state);
      known = { live: open && head?.cancelRequested === false, open };
      heads.set(taskId, known);
    }
    return known;
  };
  const add = (into: Map<string, RangeRecord[]>, record: RangeRecord) => {
    const list = into.get(record.taskId) ?? [];
    list.push(record);
    into.set(record.taskId, list);
  };

  for (const change of changes) {
    const { before, after } = change;
    const record = after ?? before;
    if (record === undefined) continue;
    const moved = before === undefined || before.state !== after?.state || before.attempt !== after.attempt;
    if (after !== undefined && moved) {
      if (after.state === 'failed' && (await statusOf(after.taskId)).live) add(retries, after);
      if (after.state === 'fatal' && (await statusOf(after.taskId)).open) add(fatal, after);
    }
    const delta = rangeCounterDelta(before, after);
    if (Object.keys(delta).length > 0) {
      const key = `${record.taskId}\u0000${change.feed}`;
      const group = counts.get(key) ?? { taskId: record.taskId, feed: change.feed, entries: [] };
      group.entries.push({ seq: change.seq, delta });
      counts.set(key, group);
    }
  }

  const messagesOf = (taskId: string, records: RangeRecord[], nextAttempt: boolean): RangeMessage[] =>
    rangeMessages(
      taskId,
      records.map((r) => ({ ...r, attempt: nextAttempt ? r.attempt + 1 : r.attempt })),
      RETRY_RANGES_PER_MESSAGE,
    );
  await Promise.all([
    ...[...retries].map(([taskId, records]) =>
      deps.rangeQueue.send(taskId, messagesOf(taskId, records, true)),
    ),
    ...[...fatal].map(([taskId, records]) =>
      deps.rangeQueue.sendDeadLetters(taskId, messagesOf(taskId, records, false)),
    ),
  ]);
  for (const group of counts.values())
    await deps.tasks.addRangeCounts(group.taskId, group.feed, group.entries);
  const total = (m: Map<string, RangeRecord[]>) => [...m.values()].reduce((n, l) => n + l.length, 0);
  return { retried: total(retries), fatal: total(fatal), counted: counts.size };
}
