import type { Deps } from '#core/deps.ts';
import { killJob } from '#core/jobs/kill-job.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** POST /tasks/{taskId}/jobs/{jobIndex}/kill — one job cancelled (not started) or killed by its pilot. */
export function createHandler(deps: Pick<Deps, 'tasks' | 'jobs' | 'leases' | 'clock'>) {
  return httpHandler('killJob', ({ params, principal }) =>
    killJob(deps, principal, params.taskId, params.jobIndex),
  );
}
