import { exportUsage } from '#core/accounting/export-usage.ts';
import type { Deps } from '#core/deps.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** POST /accounting/export — one day's usage records to the bucket as CSV and Parquet (operators). */
export function createHandler(deps: Pick<Deps, 'accounting' | 'accountingExports' | 'objects' | 'clock'>) {
  return httpHandler('exportAccounting', ({ body }) => exportUsage(deps, body.day));
}
