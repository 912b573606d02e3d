import type { RangeMessage, RangeRecord, RecordedRangeState } from './event-range.ts';

/**
 * What a conditional range write expects to find (its fencing token): no record, or a record in
 * this state at an attempt no later than `attemptAtMost`.
 */
export type RangeExpectation = 'absent' | { state: RecordedRangeState; attemptAtMost: number };

export interface RangeWrite {
  /** The whole new record (ranges are small: a write replaces the record). */
  record: RangeRecord;
  /** The write applies when the current record matches one of these. */
  expected: RangeExpectation[];
}

export interface EventRangeStore {
  /**
   * Applies each write if its record is as expected; one answer per write, in order. Writes are
   * independent (no transaction): each is conditional on its own record.
   */
  write(writes: RangeWrite[]): Promise<Array<'ok' | 'conflict'>>;
  /** Records of some ranges of a task (strongly consistent); absent ones are left out. */
  getMany(taskId: string, rangeIndexes: number[]): Promise<RangeRecord[]>;
  /**
   * Records of a task from `fromIndex` on, in index order, at most `limit` (of those in `state`
   * when given); `next` is where the following listing starts, undefined at the end.
   */
  list(
    taskId: string,
    fromIndex: number,
    limit: number,
    state?: RecordedRangeState,
  ): Promise<{ records: RangeRecord[]; next?: number }>;
}

/** The record a change feed of range records delivers: before and after one change. */
export interface RangeRecordChange {
  feed: string;
  seq: string;
  before?: RangeRecord;
  after?: RangeRecord;
}

/** A task's own event-range queue and its DLQ (SQS), made by the workflow and deleted at its end. */
export interface RangeQueue {
  /** Creates the task's range queue and DLQ if missing; `visibilitySec` is the range lease. */
  ensureTaskQueue(
    taskId: string,
    options: { visibilitySec: number },
  ): Promise<{ queueUrl: string; dlqUrl: string }>;
  queueUrl(taskId: string): Promise<string>;
  /** Sends range messages to the task's queue (batches of 10, failed entries retried). */
  send(taskId: string, messages: RangeMessage[]): Promise<void>;
  /** Puts messages of fatal ranges into the task's DLQ, where operators find them. */
  sendDeadLetters(taskId: string, messages: RangeMessage[]): Promise<void>;
  /** Deletes the task's queue and DLQ; nothing when they do not exist. */
  deleteTaskQueues(taskId: string): Promise<void>;
}
