import type { Deps } from '#core/deps.ts';
import { claimJob } from '#core/jobs/claim-job.ts';
import { httpHandler } from '../../http/http-handler.ts';
import { milliseconds } from '../../runtime/powertools.ts';

/** POST /pilots/{pilotId}/claim — claim the job a message names (with the previous attempt's report). */
export function createHandler(
  deps: Pick<
    Deps,
    'tasks' | 'jobs' | 'sites' | 'leases' | 'ranges' | 'rangeQueue' | 'clock' | 'settings' | 'retryPolicies'
  >,
) {
  return httpHandler('claimJob', async ({ params, body, principal }) => {
    const started = performance.now();
    const answer = await claimJob(deps, principal, params.pilotId, body);
    // Every claim a pilot waits for, whatever its outcome: the operators' view of claim service time.
    milliseconds('ClaimLatency', performance.now() - started);
    return answer;
  });
}
