import { TaskPathSchema } from '#core/api/contract.ts';
import type { Deps } from '#core/deps.ts';
import { cancelTask } from '#core/tasks/cancel-task.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** POST /tasks/{taskId}/cancel — accepted; the task ends cancelled once its jobs are final. */
export function createHandler(deps: Pick<Deps, 'tasks' | 'jobs' | 'workflow' | 'clock'>) {
  return httpHandler({
    name: 'cancel-task',
    path: TaskPathSchema,
    successStatus: 202,
    run: ({ path, principal }) => cancelTask(deps, principal, path.taskId),
  });
}
