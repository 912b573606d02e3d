import type { JobState } from '../jobs/job.ts';
import type { TaskSpec } from './task-spec.ts';

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

/** Number of jobs of a task in each job state. */
export type JobCounts = Record<JobState, number>;

export function emptyJobCounts(): JobCounts {
  return { defined: 0, queued: 0, starting: 0, running: 0, finished: 0, failed: 0, cancelled: 0 };
}

export interface TaskStateChange {
  state: TaskState;
  at: string;
  reason?: string;
}

export interface Task {
  taskId: string;
  owner: string;
  name: string;
  spec: TaskSpec;
  state: TaskState;
  /** Total number of jobs (known once split). */
  jobCount: number;
  /** Jobs written and sent to queues so far (the enqueue progress). */
  jobsEnqueued: number;
  counts: JobCounts;
  /** Sites chosen by brokerage for the task's jobs. */
  siteIds: string[];
  cancelRequested: boolean;
  reason?: string;
  createdAt: string;
  updatedAt: string;
  endedAt?: string;
  history: TaskStateChange[];
}

/** How a task ends once every job is final. */
export function finalTaskState(
  task: Pick<Task, 'cancelRequested' | 'jobCount'>,
  counts: JobCounts,
): TaskState {
  if (task.cancelRequested) return 'cancelled';
  if (counts.finished === task.jobCount) return 'done';
  if (counts.finished === 0) return 'failed';
  return 'partial';
}
