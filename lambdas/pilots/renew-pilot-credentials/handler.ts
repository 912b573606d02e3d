import { PilotPathSchema } from '#core/api/contract.ts';
import type { Deps } from '#core/deps.ts';
import { renewPilotCredentials } from '#core/pilots/register-pilot.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** POST /pilots/{pilotId}/credentials — fresh short-lived credentials before the old ones expire. */
export function createHandler(deps: Pick<Deps, 'pilots' | 'queue' | 'objects' | 'credentials'>) {
  return httpHandler({
    name: 'renew-pilot-credentials',
    path: PilotPathSchema,
    run: ({ path, principal }) => renewPilotCredentials(deps, principal, path.pilotId),
  });
}
