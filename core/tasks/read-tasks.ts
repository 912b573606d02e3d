import type { Page, PageRequest } from '../api/common.ts';
import type { ScoutingView, TaskSummary, TaskView } from '../api/tasks.ts';
import type { Deps, Principal } from '../deps.ts';
import { deriveRangeCounts, emptyRangeCounters, type RangeCounters } from '../event-ranges/range-counts.ts';
import type { JobCounts } from '../jobs/job-counts.ts';
import { scoutPlan } from './scout-sizing.ts';
import { isFinalTaskState, type Task, type TaskHead } from './task.ts';
import { ownedTask } from './task-access.ts';
import { withoutResolvedInputs } from './task-spec.ts';

export function taskSummary(
  task: TaskHead & { counts: JobCounts; rangeCounters?: RangeCounters },
): TaskSummary {
  const ranges =
    task.rangeCount === undefined
      ? undefined
      : deriveRangeCounts(
          { rangeCount: task.rangeCount, events: task.events ?? 0 },
          task.rangeCounters ?? emptyRangeCounters(),
        );
  return {
    taskId: task.taskId,
    name: task.name,
    owner: task.owner,
    state: task.state,
    jobCount: task.jobCount,
    jobsEnqueued: task.jobsEnqueued,
    counts: task.counts,
    ...(ranges === undefined ? {} : { ranges }),
    ...(task.outputs === undefined ? {} : { outputs: task.outputs }),
    siteIds: task.siteIds,
    cancelRequested: task.cancelRequested,
    ...(task.paused === true ? { paused: true } : {}),
    ...(task.priority === undefined ? {} : { priority: task.priority }),
    ...(task.jobsResubmitted === undefined ? {} : { jobsResubmitted: task.jobsResubmitted }),
    ...(task.resubmitOrder === undefined ? {} : { resubmitting: true }),
    ...(task.reason === undefined ? {} : { reason: task.reason }),
    createdAt: task.createdAt,
    updatedAt: task.updatedAt,
    ...(task.endedAt === undefined ? {} : { endedAt: task.endedAt }),
  };
}

export function taskView(task: Task): TaskView {
  const scouting = scoutingView(task);
  return {
    ...taskSummary(task),
    // The spec as the user wrote it: resolved inputs are shown by `gluon why`, not here.
    spec: withoutResolvedInputs(task.spec),
    history: task.history,
    ...(scouting === undefined ? {} : { scouting }),
  };
}

/** A scouted task's scouts and sizing, as `gluon status` shows them. */
export function scoutingView(task: Task): ScoutingView | undefined {
  const plan = scoutPlan(task.spec);
  if (plan === undefined) return undefined;
  const base = { scouts: plan.scouts, unit: plan.unit, targetWalltimeSec: plan.targetWalltimeSec };
  const sizing = task.sizing;
  if (sizing === undefined)
    return { state: isFinalTaskState(task.state) ? 'not-sized' : 'scouting', ...base };
  const { scouts: _scouts, ...measured } = sizing.measured;
  return {
    state: 'sized',
    ...base,
    measured,
    perJob: sizing.perJob,
    jobs: sizing.jobs,
    memoryMB: sizing.memoryMB,
    ...(sizing.notes.length === 0 ? {} : { notes: sizing.notes }),
    sizedAt: sizing.at,
  };
}

export async function getTask(
  deps: Pick<Deps, 'tasks'>,
  principal: Principal,
  taskId: string,
): Promise<TaskView> {
  return taskView(await ownedTask(deps.tasks, principal, taskId));
}

export async function listTasks(
  deps: Pick<Deps, 'tasks'>,
  principal: Principal,
  page: PageRequest,
): Promise<Page<TaskSummary>> {
  const result = await deps.tasks.listByOwner(principal.sub, page);
  return { ...result, items: result.items.map(taskSummary) };
}
