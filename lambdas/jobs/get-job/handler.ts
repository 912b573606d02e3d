import type { Deps } from '#core/deps.ts';
import { getJob } from '#core/jobs/list-jobs.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** GET /tasks/{taskId}/jobs/{jobIndex} — one job with all its attempts. */
export function createHandler(deps: Pick<Deps, 'tasks' | 'jobs'>) {
  return httpHandler('getJob', ({ params, principal }) =>
    getJob(deps, principal, params.taskId, params.jobIndex),
  );
}
