import type { Deps } from '#core/deps.ts';
import { listSites } from '#core/sites/sites.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** GET /sites — every site with its status, slot resources and pilot cap. */
export function createHandler(deps: Pick<Deps, 'sites'>) {
  return httpHandler({
    name: 'list-sites',
    run: async () => ({ sites: await listSites(deps) }),
  });
}
