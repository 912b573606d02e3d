import { PilotPathSchema } from '#core/api/contract.ts';
import type { Deps } from '#core/deps.ts';
import { completeJob } from '#core/jobs/complete-job.ts';
import { httpHandler } from '../../http/http-handler.ts';

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
