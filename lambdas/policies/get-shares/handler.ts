import type { Deps } from '#core/deps.ts';
import { getShares } from '#core/policies/shares-admin.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** GET /shares — the share tree, decayed usage and the tasks in dispatch. */
export function createHandler(deps: Pick<Deps, 'policies' | 'clock'>) {
  return httpHandler('getShares', () => getShares(deps));
}
