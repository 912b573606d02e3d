import { z } from 'zod';
import type { Deps } from '#core/deps.ts';
import { type ReapReport, reapPilots } from '#core/pilots/reap-pilots.ts';
import { sleep } from '#platform/sleep.ts';
import { workflowHandler } from '../../http/workflow-handler.ts';
import { count, logger } from '../../runtime/powertools.ts';

/**
 * Scheduled every minute: `sweeps` sweeps of the pilot leases, spread over the minute (the lost-pilot
 * detection period is 60 s / sweeps; EventBridge schedules run at most once a minute).
 */
export function createHandler(
  deps: Pick<Deps, 'tasks' | 'jobs' | 'sites' | 'leases' | 'pilots' | 'queue' | 'clock' | 'retryPolicies'>,
  options: { sweeps: number; periodSec?: number } = { sweeps: 1 },
) {
  const gapMs = ((options.periodSec ?? 60) * 1000) / options.sweeps;
  return workflowHandler('reap-pilots', z.unknown(), async () => {
    const reports: ReapReport[] = [];
    for (let sweep = 0; sweep < options.sweeps; sweep++) {
      if (sweep > 0) await sleep(gapMs);
      const report = await reapPilots(deps);
      reports.push(report);
      // Nothing is written when nothing happened: a quiet minute costs no log bytes.
      if (report.pilotsLost + report.jobsRequeued + report.claimsAbandoned + report.deadLettersRedriven > 0) {
        logger.info('reaped', { ...report });
        count('PilotsLost', report.pilotsLost);
        count('JobsRequeued', report.jobsRequeued);
        count('ClaimsAbandoned', report.claimsAbandoned);
        count('DeadLettersRedriven', report.deadLettersRedriven);
      }
    }
    return reports.at(-1);
  });
}
