import { PilotPathSchema } from '#core/api.ts';
import { completeJob } from '#core/use-cases/complete-job.ts';
import type { Deps } from '#core/use-cases/deps.ts';
import { httpHandler } from '../http/http-handler.ts';

/** POST /pilots/{pilotId}/complete — the end of an attempt: result, usage, outputs. */
export function createHandler(
  deps: Pick<Deps, 'tasks' | 'jobs' | 'pilots' | 'sites' | 'queue' | 'workflow' | 'clock' | 'settings'>,
) {
  return httpHandler({
    name: 'complete-job',
    path: PilotPathSchema,
    body: true,
    run: ({ path, body, principal }) => completeJob(deps, principal, path.pilotId, body),
  });
}
