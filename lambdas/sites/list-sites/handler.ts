import type { Deps } from '#core/deps.ts';
import { listSites } from '#core/sites/sites.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** GET /sites — every site with its status, slot, cap and pilot census. */
export function createHandler(deps: Pick<Deps, 'sites'>) {
  return httpHandler('listSites', () => listSites(deps));
}
