import type { Deps } from '#core/deps.ts';
import { registerPilot } from '#core/pilots/register-pilot.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** POST /pilots — a pilot registers; it gets its lease (and credentials where they are vended). */
export function createHandler(
  deps: Pick<
    Deps,
    'pilots' | 'leases' | 'sites' | 'queue' | 'objects' | 'credentials' | 'clock' | 'ids' | 'settings'
  >,
) {
  return httpHandler('registerPilot', ({ body, principal }) => registerPilot(deps, principal, body));
}
