import type { CancelTaskResponse } from '../api/tasks.ts';
import type { Deps, Principal } from '../deps.ts';
import { ConflictError } from '../errors.ts';
import { releaseWaitIfReady } from './release-wait.ts';
import { isFinalTaskState } from './task.ts';
import { ownedTaskHead } from './task-access.ts';

/**
 * Cancels a task, in constant time whatever its size: the flag stops dispatch (the enqueue step
 * stops, claims are refused, queued jobs count as cancelled) and wakes the workflow, whose cancel
 * step tells the pilots of running jobs to kill them, a page at a time. The task ends `cancelled`
 * once its last running job has reported.
 */
export async function cancelTask(
  deps: Pick<Deps, 'tasks' | 'workflow' | 'clock' | 'policies'>,
  principal: Principal,
  taskId: string,
): Promise<CancelTaskResponse> {
  await ownedTaskHead(deps.tasks, principal, taskId);
  const seen = await deps.tasks.requestCancel(taskId, deps.clock.now().toISOString());
  if (seen === undefined || isFinalTaskState(seen)) {
    throw new ConflictError(`task ${taskId} is already ${seen ?? 'gone'}`);
  }
  await deps.policies.deactivate(taskId);
  await releaseWaitIfReady(deps, taskId);
  return { taskId, state: seen, cancelRequested: true };
}
