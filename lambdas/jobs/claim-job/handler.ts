import { ClaimRequestSchema, PilotPathSchema } from '#core/api/contract.ts';
import type { Deps } from '#core/deps.ts';
import { fieldIssues, ValidationError } from '#core/errors.ts';
import { claimJob } from '#core/jobs/claim-job.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** POST /pilots/{pilotId}/claim — claim the job named by a queue message. */
export function createHandler(
  deps: Pick<Deps, 'tasks' | 'jobs' | 'pilots' | 'workflow' | 'clock' | 'settings'>,
) {
  return httpHandler({
    name: 'claim-job',
    path: PilotPathSchema,
    body: true,
    run: ({ path, body, principal }) => {
      const parsed = ClaimRequestSchema.safeParse(body);
      if (!parsed.success) throw new ValidationError('invalid claim', fieldIssues(parsed.error.issues));
      return claimJob(deps, principal, path.pilotId, parsed.data);
    },
  });
}
