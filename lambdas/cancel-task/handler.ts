import { TaskPathSchema } from '#core/api.ts';
import { cancelTask } from '#core/use-cases/cancel-task.ts';
import type { Deps } from '#core/use-cases/deps.ts';
import { httpHandler } from '../http/http-handler.ts';

/** POST /tasks/{taskId}/cancel — accepted; the task ends cancelled once its jobs are final. */
export function createHandler(deps: Pick<Deps, 'tasks' | 'jobs' | 'workflow' | 'clock'>) {
  return httpHandler({
    name: 'cancel-task',
    path: TaskPathSchema,
    successStatus: 202,
    run: ({ path, principal }) => cancelTask(deps, principal, path.taskId),
  });
}
