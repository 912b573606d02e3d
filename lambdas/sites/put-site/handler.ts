import type { Deps } from '#core/deps.ts';
import { putSite } from '#core/sites/sites.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** PUT /sites/{siteId} — define or update a site (operators). */
export function createHandler(deps: Pick<Deps, 'sites' | 'queue'>) {
  return httpHandler('putSite', ({ params, body }) => putSite(deps, params.siteId, body));
}
