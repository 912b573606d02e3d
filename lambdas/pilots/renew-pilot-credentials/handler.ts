import type { Deps } from '#core/deps.ts';
import { renewPilotCredentials } from '#core/pilots/register-pilot.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** POST /pilots/{pilotId}/credentials — fresh credentials for a live pilot. */
export function createHandler(deps: Pick<Deps, 'leases' | 'queue' | 'objects' | 'credentials'>) {
  return httpHandler('renewPilotCredentials', ({ params, principal }) =>
    renewPilotCredentials(deps, principal, params.pilotId),
  );
}
