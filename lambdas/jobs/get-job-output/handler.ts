import type { Deps } from '#core/deps.ts';
import { getJobOutput } from '#core/jobs/job-results.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** GET /tasks/{taskId}/jobs/{jobIndex}/outputs/{name} — a presigned download URL of one output. */
export function createHandler(deps: Pick<Deps, 'tasks' | 'jobs' | 'objects'>) {
  return httpHandler('getJobOutput', ({ params, principal }) =>
    getJobOutput(deps, principal, params.taskId, params.jobIndex, params.name),
  );
}
