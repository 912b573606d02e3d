import type { Deps } from '#core/deps.ts';
import { cancelTask } from '#core/tasks/cancel-task.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** POST /tasks/{taskId}/cancel — answers at once; the workflow stops the running jobs. */
export function createHandler(deps: Pick<Deps, 'tasks' | 'workflow' | 'clock' | 'policies'>) {
  return httpHandler('cancelTask', ({ params, principal }) => cancelTask(deps, principal, params.taskId));
}
