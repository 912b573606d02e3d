import type { Deps } from '#core/deps.ts';
import { listJobs } from '#core/jobs/list-jobs.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** GET /tasks/{taskId}/jobs — a task's jobs in index order, optionally one state only. */
export function createHandler(deps: Pick<Deps, 'tasks' | 'jobs'>) {
  return httpHandler('listJobs', ({ params, query, principal }) =>
    listJobs(deps, principal, params.taskId, query),
  );
}
