import type { Deps } from '#core/deps.ts';
import { listTasks } from '#core/tasks/read-tasks.ts';
import { httpHandler, withPageToken } from '../../http/http-handler.ts';

/** GET /tasks — the caller's tasks, newest first. */
export function createHandler(deps: Pick<Deps, 'tasks'>) {
  return httpHandler('listTasks', ({ query, principal }) =>
    withPageToken(() => listTasks(deps, principal, query)),
  );
}
