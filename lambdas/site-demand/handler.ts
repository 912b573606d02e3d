import { SitePathSchema } from '#core/api.ts';
import type { Deps } from '#core/use-cases/deps.ts';
import { siteDemand } from '#core/use-cases/site-demand.ts';
import { httpHandler } from '../http/http-handler.ts';

/** GET /sites/{siteId}/demand — what a site's pilot factory needs to decide how many pilots to submit. */
export function createHandler(deps: Pick<Deps, 'sites' | 'pilots' | 'queue'>) {
  return httpHandler({
    name: 'site-demand',
    path: SitePathSchema,
    run: ({ path, principal }) => siteDemand(deps, principal, path.siteId),
  });
}
