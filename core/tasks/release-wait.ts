import type { Deps } from '../deps.ts';
import { allJobsFinal } from '../jobs/job-counts.ts';
import { isFinalTaskState } from './task.ts';

/**
 * Lets the task workflow's wait step go on when there is something to do: every job is final
 * (finalize next), or the task was cancelled and its running jobs were not yet told to stop (the
 * cancel step next), or resumed (the resume step), or resubmitted (the resubmit step). Called after anything that may make it so (a job's final change counted, a
 * cancel, the wait step storing its token): each side writes first and checks second, so the last
 * one sees the other's write. Releasing twice is harmless: a used token is refused and ignored.
 */
export async function releaseWaitIfReady(
  deps: Pick<Deps, 'tasks' | 'workflow'>,
  taskId: string,
): Promise<boolean> {
  const progress = await deps.tasks.getProgress(taskId);
  if (progress === undefined || progress.waitToken === undefined || isFinalTaskState(progress.state))
    return false;
  // A cancelled task is always swept before it ends: the counters may not show a claim yet, the
  // job records (which the sweep reads) do.
  const sweep = progress.cancelRequested && !progress.cancelSwept;
  // Resumed after a pause: the queued jobs' messages go out again first.
  const resume = !progress.cancelRequested && progress.resumePending === true && progress.paused !== true;
  // Resubmitted by the owner: the resubmit step queues the jobs again before the task may end.
  const resubmit = !progress.cancelRequested && progress.resubmitOrder !== undefined;
  const done = !sweep && !resume && !resubmit && allJobsFinal(progress, progress.counts);
  if (!done && !sweep && !resume && !resubmit) return false;
  await deps.workflow.releaseWait(progress.waitToken, {
    taskId,
    sweep,
    ...(resume ? { resume: true } : {}),
    ...(resubmit ? { resubmit: true } : {}),
  });
  return true;
}
