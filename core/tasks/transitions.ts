import { ConflictError } from '../errors.ts';
import type { TaskState } from './task.ts';

/** The task state machine, as one table: event → allowed source states → target state. */
export const TASK_TRANSITIONS = {
  split: { from: ['submitted'], to: 'splitting' },
  run: { from: ['splitting'], to: 'running' },
  complete: { from: ['running'], to: 'done' },
  completePartially: { from: ['running'], to: 'partial' },
  fail: { from: ['submitted', 'splitting', 'running'], to: 'failed' },
  cancel: { from: ['submitted', 'splitting', 'running'], to: 'cancelled' },
  /** The owner resubmits jobs of an ended task: it runs again until they end (a cancelled task stays so). */
  reopen: { from: ['done', 'partial', 'failed'], to: 'running' },
} as const satisfies Record<string, { from: readonly TaskState[]; to: TaskState }>;

export type TaskEvent = keyof typeof TASK_TRANSITIONS;

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
