import { HeartbeatRequestSchema, PilotPathSchema } from '#core/api/contract.ts';
import type { Deps } from '#core/deps.ts';
import { fieldIssues, ValidationError } from '#core/errors.ts';
import { pilotHeartbeat } from '#core/pilots/pilot-heartbeat.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** POST /pilots/{pilotId}/heartbeat — renew leases; the reply may tell the pilot to kill a job. */
export function createHandler(deps: Pick<Deps, 'tasks' | 'jobs' | 'pilots' | 'clock' | 'settings'>) {
  return httpHandler({
    name: 'heartbeat',
    path: PilotPathSchema,
    body: true,
    run: ({ path, body, principal }) => {
      const parsed = HeartbeatRequestSchema.safeParse(body);
      if (!parsed.success) throw new ValidationError('invalid heartbeat', fieldIssues(parsed.error.issues));
      return pilotHeartbeat(deps, principal, path.pilotId, parsed.data);
    },
  });
}
