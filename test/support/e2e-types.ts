import type { TaskSpecInput } from '#core/tasks/task-spec.ts';

/** A task spec as submitted (defaults not yet filled). */
export type TaskInputSpec = TaskSpecInput;
