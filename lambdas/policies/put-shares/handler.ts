import type { Deps } from '#core/deps.ts';
import { putShares } from '#core/policies/shares-admin.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** PUT /shares — set the share tree (operators). */
export function createHandler(deps: Pick<Deps, 'policies' | 'clock'>) {
  return httpHandler('putShares', ({ principal, body }) => putShares(deps, principal, body));
}
