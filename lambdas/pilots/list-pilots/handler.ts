import { PageQuerySchema } from '#core/api/contract.ts';
import type { Deps } from '#core/deps.ts';
import { listPilots } from '#core/tasks/read-tasks.ts';
import { httpHandler, withPageToken } from '../../http/http-handler.ts';

/** GET /pilots — pilots with state, site, host, pid, jobs run and last heartbeat. */
export function createHandler(deps: Pick<Deps, 'pilots'>) {
  return httpHandler({
    name: 'list-pilots',
    query: PageQuerySchema,
    run: async ({ query }) => {
      const page = await withPageToken(() => listPilots(deps, query));
      return { pilots: page.items, ...(page.nextToken === undefined ? {} : { nextToken: page.nextToken }) };
    },
  });
}
