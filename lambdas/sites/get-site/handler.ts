import type { Deps } from '#core/deps.ts';
import { getSite, getSiteProvisioning } from '#core/sites/sites.ts';
import { httpHandler } from '../../http/http-handler.ts';
import { routeDispatcher } from '../../http/route-dispatch.ts';

/**
 * GET /sites/{siteId} — one site with its recent outcomes, its test task and its status history;
 * GET /sites/{siteId}/provisioning — a cloud site's last provisioning decision and their history.
 */
export function createHandler(deps: Pick<Deps, 'sites' | 'tasks' | 'clock'>) {
  return routeDispatcher({
    getSite: httpHandler('getSite', ({ params }) => getSite(deps, params.siteId)),
    getSiteProvisioning: httpHandler('getSiteProvisioning', ({ params }) =>
      getSiteProvisioning(deps, params.siteId),
    ),
  });
}
