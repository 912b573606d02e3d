import type { MetricSeries } from '../api/metrics.ts';
import type { MetricSample, MetricsRange } from './ports.ts';

const MINUTE_MS = 60_000;

function seriesKey(sample: Pick<MetricSample, 'name' | 'dimensions'>): string {
  const dims = Object.entries(sample.dimensions ?? {}).sort(([a], [b]) => a.localeCompare(b));
  return JSON.stringify([sample.name, dims]);
}

/**
 * Samples as per-minute sums, as CloudWatch answers GetMetricData with a 60 s period and the Sum
 * statistic: one series per metric and dimension values, minutes in order, only minutes with data,
 * only samples in [from, to) and of the names asked for.
 */
export function sumPerMinute(samples: Iterable<MetricSample>, range: MetricsRange): MetricSeries[] {
  const wanted = new Set<string>(range.names);
  const from = range.from.getTime();
  const to = range.to.getTime();
  const series = new Map<
    string,
    { name: string; dimensions?: Record<string, string>; minutes: Map<number, number> }
  >();
  for (const sample of samples) {
    if (!wanted.has(sample.name) || sample.at < from || sample.at >= to) continue;
    const key = seriesKey(sample);
    let entry = series.get(key);
    if (entry === undefined) {
      entry = {
        name: sample.name,
        ...(sample.dimensions === undefined || Object.keys(sample.dimensions).length === 0
          ? {}
          : { dimensions: sample.dimensions }),
        minutes: new Map(),
      };
      series.set(key, entry);
    }
    const minute = Math.floor(sample.at / MINUTE_MS) * MINUTE_MS;
    entry.minutes.set(minute, (entry.minutes.get(minute) ?? 0) + sample.value);
  }
  const order = new Map(range.names.map((name, i) => [name as string, i]));
  return [...series.entries()]
    .sort(([ka, a], [kb, b]) => (order.get(a.name) ?? 0) - (order.get(b.name) ?? 0) || ka.localeCompare(kb))
    .map(([, { minutes, ...rest }]) => ({
      ...rest,
      points: [...minutes.entries()]
        .sort(([a], [b]) => a - b)
        .map(([t, value]) => ({ t: new Date(t).toISOString(), value })),
    }));
}
