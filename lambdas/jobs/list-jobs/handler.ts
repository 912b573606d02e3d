import { JobsQuerySchema, TaskPathSchema } from '#core/api/contract.ts';
import type { Deps } from '#core/deps.ts';
import { listJobs } from '#core/tasks/read-tasks.ts';
import { httpHandler, withPageToken } from '../../http/http-handler.ts';

/** GET /tasks/{taskId}/jobs?state=&limit=&nextToken= */
export function createHandler(deps: Pick<Deps, 'tasks' | 'jobs'>) {
  return httpHandler({
    name: 'list-jobs',
    path: TaskPathSchema,
    query: JobsQuerySchema,
    run: async ({ path, query, principal }) => {
      const { state, limit, nextToken } = query;
      const page = await withPageToken(() =>
        listJobs(deps, principal, path.taskId, state === undefined ? {} : { state }, {
          limit,
          ...(nextToken === undefined ? {} : { nextToken }),
        }),
      );
      return { jobs: page.items, ...(page.nextToken === undefined ? {} : { nextToken: page.nextToken }) };
    },
  });
}
