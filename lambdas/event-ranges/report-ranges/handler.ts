import type { Deps } from '#core/deps.ts';
import { reportRanges } from '#core/event-ranges/report-ranges.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** POST /pilots/{pilotId}/ranges — a consumer's batch of range reports (or, empty, a progress poll). */
export function createHandler(deps: Pick<Deps, 'tasks' | 'leases' | 'ranges' | 'clock'>) {
  return httpHandler('reportRanges', ({ params, body, principal }) =>
    reportRanges(deps, principal, params.pilotId, body),
  );
}
