import { PilotPathSchema } from '#core/api.ts';
import type { Deps } from '#core/use-cases/deps.ts';
import { renewPilotCredentials } from '#core/use-cases/register-pilot.ts';
import { httpHandler } from '../http/http-handler.ts';

/** POST /pilots/{pilotId}/credentials — fresh short-lived credentials before the old ones expire. */
export function createHandler(deps: Pick<Deps, 'pilots' | 'queue' | 'objects' | 'credentials'>) {
  return httpHandler({
    name: 'renew-pilot-credentials',
    path: PilotPathSchema,
    run: ({ path, principal }) => renewPilotCredentials(deps, principal, path.pilotId),
  });
}
