import type { TaskSpecInput } from '#core/model/task-spec.ts';

/** A task spec as submitted (defaults not yet filled). */
export type TaskInputSpec = TaskSpecInput;
