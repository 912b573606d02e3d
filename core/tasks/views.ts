import type { JobView, TaskSummary, TaskView } from '../api/contract.ts';
import type { Job } from '../jobs/job.ts';
import type { Task } from './task.ts';

export function taskView(task: Task): TaskView {
  const { taskId, name, owner, state, jobCount, jobsEnqueued, counts, siteIds, cancelRequested, reason } =
    task;
  return {
    taskId,
    name,
    owner,
    state,
    jobCount,
    jobsEnqueued,
    counts,
    siteIds,
    cancelRequested,
    ...(reason === undefined ? {} : { reason }),
    createdAt: task.createdAt,
    updatedAt: task.updatedAt,
    ...(task.endedAt === undefined ? {} : { endedAt: task.endedAt }),
    spec: task.spec,
    history: task.history,
  };
}

export function taskSummary(task: Task): TaskSummary {
  const { spec: _spec, history: _history, ...summary } = taskView(task);
  return summary;
}

export function jobView(job: Job): JobView {
  const { owner: _owner, failures: _failures, leaseExpiresAt: _lease, queuedAt: _queuedAt, ...view } = job;
  return view;
}
