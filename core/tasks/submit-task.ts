import type { SubmitTaskResponse } from '../api/tasks.ts';
import type { Deps, Principal } from '../deps.ts';
import { TransientError } from '../errors.ts';
import { rangeCount, taskEvents } from '../event-ranges/event-range.ts';
import { emptyRangeCounters } from '../event-ranges/range-counts.ts';
import { emptyJobCounts } from '../jobs/job-counts.ts';
import { jobCount } from './split-task.ts';
import type { Task } from './task.ts';
import type { TaskSpec } from './task-spec.ts';

/**
 * Stores the task (validated at the edge) and starts its workflow. If the workflow cannot be
 * started the task is marked failed (nothing is left half-accepted) and the caller may retry.
 */
export async function submitTask(
  deps: Pick<Deps, 'tasks' | 'workflow' | 'clock' | 'ids'>,
  principal: Principal,
  spec: TaskSpec,
): Promise<SubmitTaskResponse> {
  const at = deps.clock.now().toISOString();
  const task: Task = {
    taskId: deps.ids.taskId(),
    owner: principal.sub,
    name: spec.name,
    spec,
    state: 'submitted',
    jobCount: jobCount(spec),
    jobsEnqueued: 0,
    counts: emptyJobCounts(),
    rangeCounters: emptyRangeCounters(),
    ...(spec.eventService === undefined
      ? {}
      : { rangeCount: rangeCount(spec), events: taskEvents(spec), rangesEnqueued: 0 }),
    siteIds: [],
    cancelRequested: false,
    cancelSwept: false,
    createdAt: at,
    updatedAt: at,
    history: [{ state: 'submitted', at }],
  };
  await deps.tasks.create(task);
  try {
    await deps.workflow.startTask(task.taskId);
  } catch (error) {
    await deps.tasks.transition(task.taskId, 'fail', {
      at: deps.clock.now().toISOString(),
      reason: `workflow could not be started: ${(error as Error).message}`,
    });
    throw new TransientError('the task workflow could not be started; submit again');
  }
  return { taskId: task.taskId, state: task.state, jobCount: task.jobCount };
}
