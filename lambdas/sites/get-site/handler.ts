import type { Deps } from '#core/deps.ts';
import { getSite } from '#core/sites/sites.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** GET /sites/{siteId} — one site with its recent outcomes, its test task and its status history. */
export function createHandler(deps: Pick<Deps, 'sites' | 'tasks' | 'clock'>) {
  return httpHandler('getSite', ({ params }) => getSite(deps, params.siteId));
}
