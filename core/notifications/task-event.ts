import { z } from 'zod';
import { JOB_STATES } from '../jobs/job.ts';
import type { JobCounts } from '../jobs/job-counts.ts';
import { FINAL_TASK_STATES, TASK_STATES, type TaskHead, type TaskState } from '../tasks/task.ts';

/** What every task state change is published as (EventBridge `Source` and `DetailType`). */
export const TASK_EVENT_SOURCE = 'gluon';
export const TASK_EVENT_DETAIL_TYPE = 'Task State Change';

export const TaskStateChangeSchema = z.object({
  taskId: z.string().min(1),
  owner: z.string().min(1),
  name: z.string(),
  from: z.enum(TASK_STATES),
  to: z.enum(TASK_STATES),
  counts: z.record(z.enum(JOB_STATES), z.number().int().nonnegative()),
  at: z.string().min(1),
});
export type TaskStateChange = z.infer<typeof TaskStateChangeSchema>;

/** The event as published: `{ source, detailType, detail }`. */
export interface TaskEvent {
  source: typeof TASK_EVENT_SOURCE;
  detailType: typeof TASK_EVENT_DETAIL_TYPE;
  detail: TaskStateChange;
}

/** The end states a webhook can ask for (all of them unless it names some). */
export const TASK_END_STATES = ['done', 'failed', 'partial', 'cancelled'] as const;
export type TaskEndState = (typeof TASK_END_STATES)[number];

export function isTaskEnd(state: TaskState): state is TaskEndState {
  return FINAL_TASK_STATES.has(state);
}

/**
 * The id of one state change, the same every time the change is seen again (a replayed stream
 * batch, a repeated event): when it happened, the task and its new state. It sorts by time, and
 * a task that ends twice (ended, resubmitted, ended again) has two ids.
 */
export function taskEventId(change: Pick<TaskStateChange, 'at' | 'taskId' | 'to'>): string {
  return `${change.at}/${change.taskId}/${change.to}`;
}

type HeadImage = Pick<TaskHead, 'taskId' | 'owner' | 'name' | 'state' | 'updatedAt' | 'history'>;

/**
 * The state change between two images of a task head, or undefined when the state did not change
 * (a counter, a flag, a new record). `at` is the time the store gave the change (its history entry).
 */
export function stateChangeOf(
  before: HeadImage | undefined,
  after: HeadImage | undefined,
  counts: JobCounts,
): TaskStateChange | undefined {
  if (before === undefined || after === undefined || before.state === after.state) return undefined;
  const last = after.history.at(-1);
  return {
    taskId: after.taskId,
    owner: after.owner,
    name: after.name,
    from: before.state,
    to: after.state,
    counts,
    at: last?.state === after.state ? last.at : after.updatedAt,
  };
}
