import type { MetricSeries } from '../api/metrics.ts';
import type { MetricName } from './metric-names.ts';

export interface MetricsRange {
  from: Date;
  to: Date;
  names: readonly MetricName[];
}

/** The operators' metrics as stored: CloudWatch on AWS, the local stack's metric lines locally. */
export interface MetricsReader {
  /** Per-minute sums of the named metrics in [from, to), one series per metric (and dimension value). */
  read(range: MetricsRange): Promise<MetricSeries[]>;
}

/** One value of one metric, as written (a metric line holds several). */
export interface MetricSample {
  name: MetricName;
  dimensions?: Record<string, string>;
  /** Epoch milliseconds. */
  at: number;
  value: number;
}
