import type { SubmitTaskResponse } from '../api/tasks.ts';
import type { Deps, Principal } from '../deps.ts';
import { TransientError, ValidationError } from '../errors.ts';
import { rangeCount, taskEvents } from '../event-ranges/event-range.ts';
import { emptyRangeCounters } from '../event-ranges/range-counts.ts';
import { emptyJobCounts } from '../jobs/job-counts.ts';
import { jobCount } from './split-task.ts';
import type { Task } from './task.ts';
import type { TaskSpec } from './task-spec.ts';

/**
 * Stores a user's task (validated at the edge) and starts its workflow. If the workflow cannot be
 * started the task is marked failed (nothing is left half-accepted) and the caller may retry. A
 * site's test task (`siteTest`) is site health's alone: a user's is refused, naming the field.
 */
export async function submitTask(
  deps: Pick<Deps, 'tasks' | 'workflow' | 'clock' | 'ids'>,
  principal: Principal,
  spec: TaskSpec,
): Promise<SubmitTaskResponse> {
  if (spec.siteTest !== undefined) {
    throw new ValidationError('invalid task spec', [
      { field: 'siteTest', message: 'only site health submits a site’s test tasks' },
    ]);
  }
  return submitAs(deps, principal.sub, spec);
}

/** The same for a task the system submits itself (a site's test task): owned by `owner`. */
export async function submitSystemTask(
  deps: Pick<Deps, 'tasks' | 'workflow' | 'clock' | 'ids'>,
  owner: `system:${string}`,
  spec: TaskSpec,
): Promise<SubmitTaskResponse> {
  return submitAs(deps, owner, spec);
}

async function submitAs(
  deps: Pick<Deps, 'tasks' | 'workflow' | 'clock' | 'ids'>,
  owner: string,
  spec: TaskSpec,
): Promise<SubmitTaskResponse> {
  const at = deps.clock.now().toISOString();
  const task: Task = {
    taskId: deps.ids.taskId(),
    owner,
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
