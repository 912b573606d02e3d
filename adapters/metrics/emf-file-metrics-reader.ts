/**
 * The local stack's metrics store: the functions' metric lines in CloudWatch Embedded Metric Format,
 * one JSON object a line, as Powertools Metrics printed them (lambdas/runtime/powertools.ts appends
 * them to GLUON_METRICS_FILE). Read as CloudWatch would extract them: namespace Gluon, each metric's
 * value (or values) at the line's timestamp, with the line's dimension values.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { MetricSeries } from '#core/api/metrics.ts';
import { isMetricName, METRIC_NAMESPACE } from '#core/metrics/metric-names.ts';
import { sumPerMinute } from '#core/metrics/per-minute.ts';
import type { MetricSample, MetricsRange, MetricsReader } from '#core/metrics/ports.ts';

interface EmfLine {
  _aws?: {
    Timestamp?: unknown;
    CloudWatchMetrics?: Array<{
      Namespace?: unknown;
      Dimensions?: unknown;
      Metrics?: Array<{ Name?: unknown }>;
    }>;
  };
  [key: string]: unknown;
}

/** The samples of one line (none for a line that is not an EMF line of the Gluon namespace). */
export function samplesOfEmfLine(text: string): MetricSample[] {
  let line: EmfLine;
  try {
    line = JSON.parse(text) as EmfLine;
  } catch {
    return [];
  }
  const at = line._aws?.Timestamp;
  if (typeof at !== 'number' || !Array.isArray(line._aws?.CloudWatchMetrics)) return [];
  const samples: MetricSample[] = [];
  for (const directive of line._aws.CloudWatchMetrics) {
    if (directive.Namespace !== METRIC_NAMESPACE) continue;
    const names =
      Array.isArray(directive.Dimensions) && Array.isArray(directive.Dimensions[0])
        ? (directive.Dimensions[0] as unknown[]).filter((d): d is string => typeof d === 'string')
        : [];
    const dimensions = Object.fromEntries(
      names.filter((d) => typeof line[d] === 'string').map((d) => [d, line[d] as string]),
    );
    for (const metric of directive.Metrics ?? []) {
      const name = metric.Name;
      if (typeof name !== 'string' || !isMetricName(name)) continue;
      const raw = line[name];
      const values = Array.isArray(raw) ? raw : [raw];
      for (const value of values) {
        if (typeof value !== 'number' || !Number.isFinite(value)) continue;
        samples.push({ name, at, value, ...(names.length > 0 ? { dimensions } : {}) });
      }
    }
  }
  return samples;
}

export class EmfFileMetricsReader implements MetricsReader {
  private readonly file: string;

  constructor(file: string) {
    this.file = file;
  }

  async read(range: MetricsRange): Promise<MetricSeries[]> {
    const samples: MetricSample[] = [];
    try {
      const lines = createInterface({ input: createReadStream(this.file, 'utf8'), crlfDelay: Infinity });
      for await (const text of lines) samples.push(...samplesOfEmfLine(text));
    } catch (error) {
      // No metric written yet: no file, no series.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    return sumPerMinute(samples, range);
  }
}
