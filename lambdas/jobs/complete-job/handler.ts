import type { Deps } from '#core/deps.ts';
import { completeJob } from '#core/jobs/complete-job.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** POST /pilots/{pilotId}/complete — the end of an attempt; replays are safe. */
export function createHandler(
  deps: Pick<Deps, 'tasks' | 'jobs' | 'sites' | 'leases' | 'clock' | 'settings' | 'retryPolicies'>,
) {
  return httpHandler('completeJob', ({ params, body, principal }) =>
    completeJob(deps, principal, params.pilotId, body),
  );
}
