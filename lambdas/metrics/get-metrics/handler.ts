import type { Deps } from '#core/deps.ts';
import { readMetrics } from '#core/metrics/read-metrics.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** GET /metrics — the operators' metrics as per-minute sums (admin). */
export function createHandler(deps: Pick<Deps, 'metricsReader' | 'clock'>) {
  return httpHandler('getMetrics', ({ query }) => readMetrics(deps, query));
}
