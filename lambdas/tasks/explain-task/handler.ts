import type { Deps } from '#core/deps.ts';
import { explainTask } from '#core/tasks/explain-task.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** GET /tasks/{taskId}/why — why is my job pending. */
export function createHandler(deps: Pick<Deps, 'tasks' | 'sites' | 'queue' | 'clock' | 'accounting'>) {
  return httpHandler('explainTask', ({ params, principal }) => explainTask(deps, principal, params.taskId));
}
