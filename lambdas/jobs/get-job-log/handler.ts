import type { Deps } from '#core/deps.ts';
import { getJobLog } from '#core/jobs/job-results.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** GET /tasks/{taskId}/jobs/{jobIndex}/log — a presigned download URL of one attempt's log. */
export function createHandler(deps: Pick<Deps, 'tasks' | 'jobs' | 'objects'>) {
  return httpHandler('getJobLog', ({ params, query, principal }) =>
    getJobLog(deps, principal, params.taskId, params.jobIndex, query.attempt),
  );
}
