import { SitePathSchema } from '#core/api/contract.ts';
import type { Deps } from '#core/deps.ts';
import { siteDemand } from '#core/sites/site-demand.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** GET /sites/{siteId}/demand — what a site's pilot factory needs to decide how many pilots to submit. */
export function createHandler(deps: Pick<Deps, 'sites' | 'pilots' | 'queue'>) {
  return httpHandler({
    name: 'site-demand',
    path: SitePathSchema,
    run: ({ path, principal }) => siteDemand(deps, principal, path.siteId),
  });
}
