import type { Deps } from '../deps.ts';
import type { Task } from './task.ts';

/** True when every job the task will ever have is in a final state. */
export function allJobsFinal(task: Task): boolean {
  const { finished, failed, cancelled } = task.counts;
  const target = task.cancelRequested ? task.jobsEnqueued : task.jobCount;
  return finished + failed + cancelled >= target;
}

/**
 * Called after a job reaches a final state and after the workflow stores its wait token. Both
 * sides write first and check second, so whichever comes last sees the other's write; the token
 * is taken with a conditional write, so the workflow is released exactly once.
 */
export async function releaseFinishedTask(
  deps: Pick<Deps, 'tasks' | 'workflow'>,
  taskId: string,
): Promise<boolean> {
  const task = await deps.tasks.get(taskId);
  if (task === undefined || !allJobsFinal(task)) return false;
  const token = await deps.tasks.takeWaitToken(taskId);
  if (token === undefined) return false;
  await deps.workflow.releaseWait(token, { taskId });
  return true;
}
