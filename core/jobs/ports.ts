import type { Attempt, JobRecord, RecordedJobState } from './job.ts';
import type { JobMessage } from './job-message.ts';
import type { ResourceClass } from './resource-class.ts';

/**
 * What a conditional job write expects to find (a fencing token): no record, or a record in this
 * state at this attempt (and held by this pilot, at this site, when given).
 */
export type JobExpectation =
  | 'absent'
  | { state: RecordedJobState; attempt: number; pilotId?: string; siteId?: string };

/** Fields a write sets on a job record, and fields it removes. */
export interface JobChange {
  set: Partial<Omit<JobRecord, 'taskId' | 'jobIndex'>>;
  remove?: Array<
    Exclude<keyof JobRecord, 'taskId' | 'jobIndex' | 'state' | 'attempt' | 'failures' | 'siteId'>
  >;
}

export interface JobStore {
  /** One job's record (strongly consistent), or undefined when it was never claimed. */
  get(taskId: string, jobIndex: number): Promise<JobRecord | undefined>;
  /**
   * Records of a task from `fromIndex` on, in index order, at most `limit`; `more` when the listing
   * stopped at the limit (there may be more: with exactly `limit` left, the next listing is empty).
   */
  list(taskId: string, fromIndex: number, limit: number): Promise<{ records: JobRecord[]; more: boolean }>;
  /**
   * Writes a change to one job if the record is as one of `expected` says (a fencing token: state,
   * attempt, pilot), creating the record when `absent` is expected. 'conflict' otherwise.
   */
  update(
    key: { taskId: string; jobIndex: number },
    change: JobChange,
    expected: JobExpectation[],
  ): Promise<'ok' | 'conflict'>;
  /** Stores ended attempts as their own records (idempotent: an attempt is written with the same content again). */
  archiveAttempts(attempts: Array<{ taskId: string; jobIndex: number; attempt: Attempt }>): Promise<void>;
  /** A job's archived attempts, oldest first. */
  attempts(taskId: string, jobIndex: number): Promise<Attempt[]>;
}

/**
 * A site's job queues: one per resource class (core/jobs/resource-class.ts), each with its DLQ.
 * The single-core class's is the site's queue.
 */
export interface JobQueue {
  /** Creates the site's queue of every class, and their DLQs, if missing; returns the single-core one's URLs. */
  ensureSiteQueue(siteId: string): Promise<{ queueUrl: string; dlqUrl: string }>;
  /** The URL of the site's queue of a class (default: single-core). */
  queueUrl(siteId: string, resourceClass?: ResourceClass): Promise<string>;
  /**
   * Sends job messages (batches of 10, failed entries retried); each goes to the queue of its
   * `siteId` and its class (messageClass). With `delaySec` (at most 900, SQS DelaySeconds), pilots
   * see them only that long after the send.
   */
  send(messages: JobMessage[], options?: { delaySec?: number }): Promise<void>;
  /** Approximate number of visible messages in a site's queues of these classes (default: all), summed. */
  depth(siteId: string, classes?: readonly ResourceClass[]): Promise<number>;
  /**
   * Moves job messages out of the site's DLQs back into their queues, visible after `delaySec` (a
   * job that no pilot could take in time gets another round); malformed messages stay for operators.
   */
  redriveDeadLetters(
    siteId: string,
    options: { max: number; delaySec: number },
  ): Promise<{ redriven: number }>;
}

/** The record a change feed of job records delivers: before and after one change. */
export interface JobRecordChange {
  /** The feed (a stream shard) and the change's position in it. */
  feed: string;
  seq: string;
  before?: JobRecord;
  after?: JobRecord;
}
