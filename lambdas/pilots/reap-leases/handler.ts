import { z } from 'zod';
import type { Deps } from '#core/deps.ts';
import { reapLeases } from '#core/pilots/reap-leases.ts';
import { workflowHandler } from '../../http/workflow-handler.ts';
import { createLogger } from '../../runtime/logger.ts';
import { emitMetrics } from '../../runtime/metrics.ts';

const logger = createLogger('reaper');

/** Scheduled: jobs with expired leases become new attempts (or fail); silent pilots are lost. */
export function createHandler(
  deps: Pick<Deps, 'tasks' | 'jobs' | 'pilots' | 'sites' | 'queue' | 'workflow' | 'clock' | 'settings'>,
) {
  return workflowHandler('reap-leases', z.unknown(), async () => {
    const result = await reapLeases(deps);
    if (result.jobsReaped + result.jobsRedispatched + result.pilotsLost > 0) {
      logger.info('reaped', result);
      emitMetrics({
        JobsReaped: result.jobsReaped,
        JobsRedispatched: result.jobsRedispatched,
        PilotsLost: result.pilotsLost,
      });
    }
    return result;
  });
}
