import type { Deps } from '#core/deps.ts';
import { siteDemand } from '#core/sites/site-demand.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** GET /sites/{siteId}/demand — how many pilots the site could use now. */
export function createHandler(deps: Pick<Deps, 'sites' | 'queue'>) {
  return httpHandler('siteDemand', ({ params, principal }) => siteDemand(deps, principal, params.siteId));
}
