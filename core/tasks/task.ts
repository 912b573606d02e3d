import type { RangeCounters } from '../event-ranges/range-counts.ts';
import type { OutputFile } from '../jobs/job.ts';
import type { JobCounts } from '../jobs/job-counts.ts';
import type { TaskSizing } from './scout-sizing.ts';
import type { TaskSpec } from './task-spec.ts';

/**
 * The owner's order to run ended jobs of a task again (`gluon resubmit`), kept on the task until
 * the workflow's resubmit step has queued them, a page at a time.
 */
export interface ResubmitOrder {
  /** Its number (the task's resubmitOrders once given); the jobs it queues carry it. */
  order: number;
  /** The jobs chosen by index ("3,7-9"), or else every job in `state`. */
  jobs?: string;
  state?: 'failed' | 'cancelled';
  memoryMB?: number;
  walltimeSec?: number;
  /** The sites the jobs may go to (brokerage's survivors, with the new resources). */
  siteIds: string[];
  /** The owner named the sites: jobs are spread over them (else a job keeps its site if it is one). */
  sitesGiven: boolean;
  /** The jobs it was expected to queue when given (what the owner was told). */
  expected: number;
  /** It reopened the ended task (so its own workflow execution runs it). */
  reopened: boolean;
  at: string;
}

export const TASK_STATES = [
  'submitted',
  'splitting',
  'running',
  'done',
  'partial',
  'failed',
  'cancelled',
] as const;
export type TaskState = (typeof TASK_STATES)[number];
export const FINAL_TASK_STATES: ReadonlySet<TaskState> = new Set(['done', 'partial', 'failed', 'cancelled']);

export function isFinalTaskState(state: TaskState): boolean {
  return FINAL_TASK_STATES.has(state);
}

export interface TaskStateChange {
  state: TaskState;
  at: string;
  reason?: string;
}

/**
 * What changes during a task's life, small and read often (claims read it for the cancel flag);
 * the spec is stored apart, once, and never changes.
 */
export interface TaskHead {
  taskId: string;
  owner: string;
  name: string;
  state: TaskState;
  /** Total number of jobs (known from the spec at submission). */
  jobCount: number;
  /** Jobs whose messages were sent so far (the enqueue progress). */
  jobsEnqueued: number;
  /** Sites chosen by brokerage for the task's jobs. */
  siteIds: string[];
  /** Their shares of the jobs (brokerage's weights, parallel to siteIds); absent: equal. */
  siteShares?: number[];
  cancelRequested: boolean;
  /** Dispatch stopped by the owner: claims are refused (the message waits), running jobs go on. */
  paused?: boolean;
  /** Resumed after a pause: the workflow sends the messages of the task's queued jobs again. */
  resumePending?: boolean;
  /** The owner's priority, over the spec's (0..1000). */
  priority?: number;
  /** Event-service tasks: the number of ranges and events, and the ranges whose messages were sent. */
  rangeCount?: number;
  events?: number;
  rangesEnqueued?: number;
  /** Event-service tasks: the merge jobs, once the merge started (jobs from index `consumers` on). */
  mergeJobs?: number;
  /** A scouted task, once its scouts ended: what they measured and how the rest was cut (jobs, memory). */
  sizing?: TaskSizing;
  /** The task's outputs once it ended (the merged outputs of an event-service task). */
  outputs?: OutputFile[];
  /** The cancel step has told the pilots of every running job to kill it. */
  cancelSwept: boolean;
  /** A dataset task: the input files resolved so far (the store keeps them beside the spec). */
  inputFiles?: number;
  /** A dataset task: its dataset was closed when last resolved; no more files come. */
  inputsClosed?: boolean;
  /** A dataset task: where the next listing of its dataset starts (the catalog's page token). */
  inputsCursor?: string;
  /** The owner's resubmit waiting for the workflow's resubmit step to queue its jobs again. */
  resubmitOrder?: ResubmitOrder;
  /** Resubmit orders given so far (each numbered; a reopen's execution is `<taskId>-r<number>`). */
  resubmitOrders?: number;
  /** Jobs queued again by resubmits so far: the task cannot end before the change feed counted each. */
  jobsResubmitted?: number;
  reason?: string;
  createdAt: string;
  updatedAt: string;
  endedAt?: string;
  history: TaskStateChange[];
  /** The meta-task node this task runs (its end advances the meta-task). */
  metaTask?: { metaTaskId: string; node: string };
}

export interface Task extends TaskHead {
  spec: TaskSpec;
  counts: JobCounts;
  /** Event-service tasks: the range counters (empty otherwise). */
  rangeCounters: RangeCounters;
}

/** How a task ends once every job is final. */
export function finalTaskState(
  task: Pick<Task, 'cancelRequested' | 'jobCount'>,
  counts: JobCounts,
): 'done' | 'partial' | 'failed' | 'cancelled' {
  if (task.cancelRequested) return 'cancelled';
  if (counts.finished === task.jobCount) return 'done';
  if (counts.finished === 0) return 'failed';
  return 'partial';
}
