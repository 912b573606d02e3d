import type { MetricSeries } from '#core/api/metrics.ts';
import { NotFoundError } from '#core/errors.ts';
import type { MetricsReader } from '#core/metrics/ports.ts';

/**
 * A deployment without a metrics store to read back: on AWS the metrics are in CloudWatch (the
 * dashboard shows them) until a CloudWatch GetMetricData reader is wired here.
 */
export class NoMetricsReader implements MetricsReader {
  async read(): Promise<MetricSeries[]> {
    throw new NotFoundError('this deployment has no metrics store to read; see the CloudWatch dashboard');
  }
}
