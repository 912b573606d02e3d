import type { Deps } from '#core/deps.ts';
import { listRanges } from '#core/event-ranges/list-ranges.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** GET /tasks/{taskId}/ranges — an event-service task's ranges in index order, optionally one state only. */
export function createHandler(deps: Pick<Deps, 'tasks' | 'ranges'>) {
  return httpHandler('listRanges', ({ params, query, principal }) =>
    listRanges(deps, principal, params.taskId, query),
  );
}
