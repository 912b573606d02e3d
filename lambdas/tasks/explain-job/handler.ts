import type { Deps } from '#core/deps.ts';
import { explainJob } from '#core/tasks/explain-job.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** GET /tasks/{taskId}/jobs/{jobIndex}/why — where one job was sent and why, and what holds it. */
export function createHandler(
  deps: Pick<Deps, 'tasks' | 'jobs' | 'sites' | 'queue' | 'policies' | 'clock' | 'accounting'>,
) {
  return httpHandler('explainJob', ({ params, principal }) =>
    explainJob(deps, principal, params.taskId, params.jobIndex),
  );
}
