import type { Deps } from '#core/deps.ts';
import { registerPilot } from '#core/pilots/register-pilot.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** POST /pilots — a pilot registers with its site and resources. */
export function createHandler(
  deps: Pick<Deps, 'pilots' | 'sites' | 'queue' | 'objects' | 'credentials' | 'clock' | 'ids' | 'settings'>,
) {
  return httpHandler({
    name: 'register-pilot',
    body: true,
    successStatus: 201,
    run: ({ body, principal }) => registerPilot(deps, principal, body),
  });
}
