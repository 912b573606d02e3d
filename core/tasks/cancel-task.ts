import type { Deps, Principal } from '../deps.ts';
import { ConflictError } from '../errors.ts';
import { releaseFinishedTask } from './release-finished-task.ts';
import { isFinalTaskState, type TaskState } from './task.ts';
import { ownedTask } from './task-access.ts';

const SWEEP_PAGE = 200;

/**
 * Cancels a task: dispatch stops (enqueue sees the flag, claims are refused), queued jobs are
 * cancelled here, running ones are killed through the heartbeat reply and report as cancelled.
 */
export async function cancelTask(
  deps: Pick<Deps, 'tasks' | 'jobs' | 'workflow' | 'clock'>,
  principal: Principal,
  taskId: string,
): Promise<{ taskId: string; state: TaskState; cancelRequested: true }> {
  await ownedTask(deps.tasks, principal, taskId);
  const seen = await deps.tasks.requestCancel(taskId, deps.clock.now().toISOString());
  if (seen === undefined || isFinalTaskState(seen)) {
    throw new ConflictError(`task ${taskId} is already ${seen ?? 'gone'}`);
  }
  await cancelQueuedJobs(deps, taskId);
  await releaseFinishedTask(deps, taskId);
  return { taskId, state: seen, cancelRequested: true };
}

/** Cancels every queued job of a task, page by page. Jobs claimed meanwhile are skipped (fenced). */
export async function cancelQueuedJobs(deps: Pick<Deps, 'jobs' | 'clock'>, taskId: string): Promise<number> {
  let cancelled = 0;
  let nextToken: string | undefined;
  do {
    const page = await deps.jobs.listByTask(taskId, { state: 'queued' }, { limit: SWEEP_PAGE, nextToken });
    const outcomes = await Promise.all(
      page.items.map((job) =>
        deps.jobs.transition({
          taskId,
          jobIndex: job.jobIndex,
          event: 'cancel',
          expected: { state: 'queued', attempt: job.attempt },
          set: { endedAt: deps.clock.now().toISOString(), errorMessage: 'cancelled by its owner' },
          at: deps.clock.now().toISOString(),
        }),
      ),
    );
    cancelled += outcomes.filter((o) => o === 'ok').length;
    nextToken = page.nextToken;
  } while (nextToken !== undefined);
  return cancelled;
}
