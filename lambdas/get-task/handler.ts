import { TaskPathSchema } from '#core/api.ts';
import type { Deps } from '#core/use-cases/deps.ts';
import { getTask } from '#core/use-cases/read-tasks.ts';
import { httpHandler } from '../http/http-handler.ts';

/** GET /tasks/{taskId} — the task with its job counts by state. */
export function createHandler(deps: Pick<Deps, 'tasks'>) {
  return httpHandler({
    name: 'get-task',
    path: TaskPathSchema,
    run: ({ path, principal }) => getTask(deps, principal, path.taskId),
  });
}
