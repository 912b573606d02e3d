import { SitePathSchema } from '#core/api/contract.ts';
import type { Deps } from '#core/deps.ts';
import { putSite } from '#core/sites/sites.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** PUT /sites/{siteId} — define or update a site; its queue and DLQ are created. Operators only. */
export function createHandler(deps: Pick<Deps, 'sites' | 'queue'>) {
  return httpHandler({
    name: 'put-site',
    path: SitePathSchema,
    body: true,
    run: ({ path, body }) => putSite(deps, path.siteId, body),
  });
}
