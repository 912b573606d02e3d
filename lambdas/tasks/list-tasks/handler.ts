import { PageQuerySchema } from '#core/api/contract.ts';
import type { Deps } from '#core/deps.ts';
import { listTasks } from '#core/tasks/read-tasks.ts';
import { httpHandler, withPageToken } from '../../http/http-handler.ts';

/** GET /tasks — the caller's tasks, newest first. */
export function createHandler(deps: Pick<Deps, 'tasks'>) {
  return httpHandler({
    name: 'list-tasks',
    query: PageQuerySchema,
    run: async ({ query, principal }) => {
      const page = await withPageToken(() => listTasks(deps, principal, query));
      return { tasks: page.items, ...(page.nextToken === undefined ? {} : { nextToken: page.nextToken }) };
    },
  });
}
