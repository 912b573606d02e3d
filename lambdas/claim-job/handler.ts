import { ClaimRequestSchema, PilotPathSchema } from '#core/api.ts';
import { fieldIssues, ValidationError } from '#core/errors.ts';
import { claimJob } from '#core/use-cases/claim-job.ts';
import type { Deps } from '#core/use-cases/deps.ts';
import { httpHandler } from '../http/http-handler.ts';

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
