import { ConflictError } from '../errors.ts';
import type { JobState } from '../jobs/job.ts';
import type { TaskState } from './task.ts';

/**
 * The job state machine, as one table: event → allowed source states → target state.
 * `retry` starts a new attempt of the same job (the attempt number goes up by one).
 */
export const JOB_TRANSITIONS = {
  enqueue: { from: ['defined'], to: 'queued' },
  claim: { from: ['queued'], to: 'starting' },
  start: { from: ['starting'], to: 'running' },
  finish: { from: ['starting', 'running'], to: 'finished' },
  fail: { from: ['starting', 'running'], to: 'failed' },
  retry: { from: ['starting', 'running'], to: 'queued' },
  cancel: { from: ['defined', 'queued', 'starting', 'running'], to: 'cancelled' },
} as const satisfies Record<string, { from: readonly JobState[]; to: JobState }>;

export type JobEvent = keyof typeof JOB_TRANSITIONS;

export const TASK_TRANSITIONS = {
  split: { from: ['submitted'], to: 'splitting' },
  run: { from: ['splitting'], to: 'running' },
  complete: { from: ['running'], to: 'done' },
  completePartially: { from: ['running'], to: 'partial' },
  fail: { from: ['submitted', 'splitting', 'running'], to: 'failed' },
  cancel: { from: ['submitted', 'splitting', 'running'], to: 'cancelled' },
} as const satisfies Record<string, { from: readonly TaskState[]; to: TaskState }>;

export type TaskEvent = keyof typeof TASK_TRANSITIONS;

export function jobTransition(event: JobEvent): { from: readonly JobState[]; to: JobState } {
  return JOB_TRANSITIONS[event];
}

export function canJobTransition(from: JobState, event: JobEvent): boolean {
  return (JOB_TRANSITIONS[event].from as readonly JobState[]).includes(from);
}

/** The target state of a job event, or a ConflictError naming the forbidden move. */
export function nextJobState(from: JobState, event: JobEvent): JobState {
  if (!canJobTransition(from, event)) throw new ConflictError(`job cannot ${event} from ${from}`);
  return JOB_TRANSITIONS[event].to;
}

export function canTaskTransition(from: TaskState, event: TaskEvent): boolean {
  return (TASK_TRANSITIONS[event].from as readonly TaskState[]).includes(from);
}

export function nextTaskState(from: TaskState, event: TaskEvent): TaskState {
  if (!canTaskTransition(from, event)) throw new ConflictError(`task cannot ${event} from ${from}`);
  return TASK_TRANSITIONS[event].to;
}

/** The task event that leads to a final state (used by finalize). */
export function taskEventTo(state: 'done' | 'partial' | 'failed' | 'cancelled'): TaskEvent {
  return ({ done: 'complete', partial: 'completePartially', failed: 'fail', cancelled: 'cancel' } as const)[
    state
  ];
}
