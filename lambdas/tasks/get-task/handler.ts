import { TaskPathSchema } from '#core/api/contract.ts';
import type { Deps } from '#core/deps.ts';
import { getTask } from '#core/tasks/read-tasks.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** GET /tasks/{taskId} — the task with its job counts by state. */
export function createHandler(deps: Pick<Deps, 'tasks'>) {
  return httpHandler({
    name: 'get-task',
    path: TaskPathSchema,
    run: ({ path, principal }) => getTask(deps, principal, path.taskId),
  });
}
