import type { SteerTaskResponse } from '../api/tasks.ts';
import type { Deps, Principal } from '../deps.ts';
import { ConflictError } from '../errors.ts';
import { releaseWaitIfReady } from './release-wait.ts';
import { isFinalTaskState } from './task.ts';
import { ownedTaskHead } from './task-access.ts';

/**
 * The owner steers a running task without cancelling it. Pause stops dispatch at once, whatever
 * the task's size: claims of a paused task are refused and pilots drop their messages (so nothing
 * cycles through the queue while paused); running jobs go on. Resume lets claims through and wakes
 * the workflow, whose resume step sends the messages of the task's queued jobs again, a page at a
 * time (a message still in the queue is then a duplicate, which claims acknowledge as stale).
 * Priority replaces the spec's.
 */
export async function steerTask(
  deps: Pick<Deps, 'tasks' | 'workflow' | 'clock' | 'policies'>,
  principal: Principal,
  taskId: string,
  change: { paused?: boolean; priority?: number },
): Promise<SteerTaskResponse> {
  await ownedTaskHead(deps.tasks, principal, taskId);
  const resuming = change.paused === false;
  const seen = await deps.tasks.steer(taskId, {
    ...change,
    ...(resuming ? { resumePending: true } : {}),
    at: deps.clock.now().toISOString(),
  });
  if (seen === undefined || isFinalTaskState(seen)) {
    throw new ConflictError(`task ${taskId} is already ${seen ?? 'gone'}: it cannot be steered`);
  }
  // Dispatch reads its own entry of the task: the next round releases by the new priority, or not at all.
  await deps.policies.steerActive(taskId, change);
  if (resuming) await releaseWaitIfReady(deps, taskId);
  const head = await deps.tasks.getHead(taskId);
  const spec = await deps.tasks.getSpec(taskId);
  return {
    taskId,
    state: head?.state ?? seen,
    paused: head?.paused === true,
    priority: head?.priority ?? spec?.priority ?? 500,
  };
}
