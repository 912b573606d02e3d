import type { JobView, Page, TaskSummary, TaskView } from '../api/contract.ts';
import type { Deps, Principal } from '../deps.ts';
import type { JobState } from '../jobs/job.ts';
import type { Pilot } from '../pilots/pilot.ts';
import type { PageRequest } from '../ports.ts';
import { ownedTask } from './task-access.ts';
import { jobView, taskSummary, taskView } from './views.ts';

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

export async function listJobs(
  deps: Pick<Deps, 'tasks' | 'jobs'>,
  principal: Principal,
  taskId: string,
  filter: { state?: JobState },
  page: PageRequest,
): Promise<Page<JobView>> {
  await ownedTask(deps.tasks, principal, taskId);
  const result = await deps.jobs.listByTask(taskId, filter, page);
  return { ...result, items: result.items.map(jobView) };
}

export async function listPilots(deps: Pick<Deps, 'pilots'>, page: PageRequest): Promise<Page<Pilot>> {
  return deps.pilots.list(page);
}
