import type { Deps } from '#core/deps.ts';
import { listTaskOutputs } from '#core/jobs/job-results.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** GET /tasks/{taskId}/outputs — a task's outputs as its jobs recorded them. */
export function createHandler(deps: Pick<Deps, 'tasks' | 'jobs'>) {
  return httpHandler('listTaskOutputs', ({ params, query, principal }) =>
    listTaskOutputs(deps, principal, params.taskId, query.index),
  );
}
