import type { Deps } from '#core/deps.ts';
import { getTask } from '#core/tasks/read-tasks.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** GET /tasks/{taskId} — one task with its counts, spec and history. */
export function createHandler(deps: Pick<Deps, 'tasks'>) {
  return httpHandler('getTask', ({ params, principal }) => getTask(deps, principal, params.taskId));
}
