import { MAX_METRICS_RANGE_MS, type MetricsQuery, type MetricsResponse } from '../api/metrics.ts';
import type { Clock } from '../deps.ts';
import { ValidationError } from '../errors.ts';
import { METRIC_NAMES } from './metric-names.ts';
import type { MetricsReader } from './ports.ts';

const HOUR_MS = 3600 * 1000;

/** The operators' metrics over a range (default: the last hour, every metric), as per-minute sums. */
export async function readMetrics(
  deps: { metricsReader: MetricsReader; clock: Clock },
  query: MetricsQuery,
): Promise<MetricsResponse> {
  const to = query.to === undefined ? deps.clock.now() : new Date(query.to);
  const from = query.from === undefined ? new Date(to.getTime() - HOUR_MS) : new Date(query.from);
  if (from.getTime() >= to.getTime())
    throw new ValidationError('invalid query', [{ field: 'query.from', message: 'must be before to' }]);
  if (to.getTime() - from.getTime() > MAX_METRICS_RANGE_MS)
    throw new ValidationError('invalid query', [
      { field: 'query.from', message: 'the range may span 7 days at most' },
    ]);
  const names = query.names ?? METRIC_NAMES;
  const metrics = await deps.metricsReader.read({ from, to, names });
  return { from: from.toISOString(), to: to.toISOString(), metrics };
}
