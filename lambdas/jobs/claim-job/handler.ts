import type { Deps } from '#core/deps.ts';
import { claimJob } from '#core/jobs/claim-job.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** POST /pilots/{pilotId}/claim — claim the job a message names (with the previous attempt's report). */
export function createHandler(
  deps: Pick<
    Deps,
    'tasks' | 'jobs' | 'sites' | 'leases' | 'ranges' | 'rangeQueue' | 'clock' | 'settings' | 'retryPolicies'
  >,
) {
  return httpHandler('claimJob', ({ params, body, principal }) =>
    claimJob(deps, principal, params.pilotId, body),
  );
}
