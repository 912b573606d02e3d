import type { Deps } from '#core/deps.ts';
import { operatorOf, putSite } from '#core/sites/sites.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** PUT /sites/{siteId} — define or update a site (operators); a status change is recorded as theirs. */
export function createHandler(deps: Pick<Deps, 'sites' | 'queue' | 'clock'>) {
  return httpHandler('putSite', ({ params, body, principal }) =>
    putSite(deps, params.siteId, body, operatorOf(principal.sub)),
  );
}
