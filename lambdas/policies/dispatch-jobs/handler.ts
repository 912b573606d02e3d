import { z } from 'zod';
import type { Deps } from '#core/deps.ts';
import { type DispatchReport, dispatchJobs } from '#core/policies/dispatch-jobs.ts';
import { sleep } from '#platform/sleep.ts';
import { workflowHandler } from '../../http/workflow-handler.ts';
import { count, gaugeBySite, logger } from '../../runtime/powertools.ts';

/**
 * Scheduled every minute: `rounds` dispatch rounds spread over the minute (EventBridge schedules
 * run at most once a minute; the site queues hold enough for the gaps between rounds).
 */
export function createHandler(
  deps: Pick<Deps, 'policies' | 'tasks' | 'sites' | 'queue' | 'clock' | 'accounting'>,
  options: { rounds: number; periodSec?: number } = { rounds: 1 },
) {
  const gapMs = ((options.periodSec ?? 60) * 1000) / options.rounds;
  return workflowHandler('dispatch-jobs', z.unknown(), async () => {
    let last: DispatchReport | undefined;
    for (let round = 0; round < options.rounds; round++) {
      if (round > 0) await sleep(gapMs);
      last = await dispatchJobs(deps);
      const released = Object.values(last.released).reduce((n, k) => n + k, 0);
      // Depths are read only while tasks wait for places, so an idle system writes nothing.
      gaugeBySite('QueueDepth', last.depths);
      // A quiet round writes nothing.
      if (released > 0 || last.held.length > 0 || last.overBudget.length > 0) {
        logger.info('dispatched', {
          rounds: last.rounds,
          released: last.released,
          active: last.active,
          held: last.held,
          ...(last.overBudget.length > 0 ? { overBudget: last.overBudget } : {}),
        });
        count('JobsReleased', released);
      }
    }
    return last;
  });
}
