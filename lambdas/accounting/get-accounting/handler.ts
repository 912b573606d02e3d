import { readAccounting } from '#core/accounting/read-accounting.ts';
import type { Deps } from '#core/deps.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** GET /accounting — roll-ups per day by user, group or site (users: their own). */
export function createHandler(deps: Pick<Deps, 'accounting' | 'clock'>) {
  return httpHandler('getAccounting', ({ query, principal }) => readAccounting(deps, principal, query));
}
