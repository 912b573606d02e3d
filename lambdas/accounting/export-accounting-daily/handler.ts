import { z } from 'zod';
import { exportUsage } from '#core/accounting/export-usage.ts';
import type { Deps } from '#core/deps.ts';
import { workflowHandler } from '../../http/workflow-handler.ts';
import { logger } from '../../runtime/powertools.ts';

/**
 * Scheduled once a day: yesterday's usage records (UTC) to the bucket as CSV and Parquet, where
 * the Glue table makes them an Athena partition. A failed run is retried by the schedule; an
 * operator can export any day again (POST /accounting/export, gluon accounting export --day D).
 */
export function createHandler(deps: Pick<Deps, 'accounting' | 'accountingExports' | 'objects' | 'clock'>) {
  return workflowHandler('export-accounting-daily', z.unknown(), async () => {
    const exported = await exportUsage(deps, undefined);
    logger.info('usage exported', exported);
    return exported;
  });
}
