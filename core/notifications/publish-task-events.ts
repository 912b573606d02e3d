import { emptyJobCounts } from '../jobs/job-counts.ts';
import type { TaskStore } from '../tasks/ports.ts';
import type { TaskHead } from '../tasks/task.ts';
import type { EventBus } from './ports.ts';
import { stateChangeOf, TASK_EVENT_DETAIL_TYPE, TASK_EVENT_SOURCE, type TaskEvent } from './task-event.ts';

/** One change of an item of the tasks table (heads and counter items alike), as the change feed gives it. */
export interface TaskItemChange {
  before?: Partial<TaskHead> & { sk?: string };
  after?: Partial<TaskHead> & { sk?: string };
}

const HEAD_SK = 'task';

/**
 * Publishes each task state change of a batch of the tasks table's change feed, in feed order.
 * Every state change is one conditional write of the head, so it is one record of the feed: the
 * event goes out once per change, and again only when the batch is delivered again (consumers
 * dedupe on taskEventId). Counters and flags are not state changes.
 */
export async function publishTaskEvents(
  deps: { tasks: Pick<TaskStore, 'getProgress'>; events: EventBus },
  changes: TaskItemChange[],
): Promise<{ published: number }> {
  const events: TaskEvent[] = [];
  for (const change of changes) {
    const { before, after } = change;
    if (before?.sk !== HEAD_SK || after?.sk !== HEAD_SK || before.state === after.state) continue;
    const taskId = after.taskId as string;
    // The counts when the event goes out (the head does not carry them; they live on counter items).
    const progress = await deps.tasks.getProgress(taskId);
    const counts = progress?.counts ?? emptyJobCounts();
    const detail = stateChangeOf(before as TaskHead, after as TaskHead, counts);
    if (detail !== undefined)
      events.push({ source: TASK_EVENT_SOURCE, detailType: TASK_EVENT_DETAIL_TYPE, detail });
  }
  if (events.length > 0) await deps.events.publish(events);
  return { published: events.length };
}
