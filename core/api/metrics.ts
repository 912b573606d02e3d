/** `GET /metrics`: the operators' metrics as per-minute sums (CloudWatch on AWS, the local stack's file locally). */
import { z } from 'zod';
import { isMetricName, METRIC_NAMES, type MetricName } from '../metrics/metric-names.ts';

/** The longest range one request may read: a week of minutes is 10,080 points per series. */
export const MAX_METRICS_RANGE_MS = 7 * 24 * 3600 * 1000;

export const MetricsQuerySchema = z.strictObject({
  /** Start of the range (ISO 8601; default an hour before `to`). */
  from: z.iso.datetime({ offset: true }).optional(),
  /** End of the range (ISO 8601; default now). */
  to: z.iso.datetime({ offset: true }).optional(),
  /** Comma-separated metric names (default all). */
  names: z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value.trim() === '') return undefined;
      const names = value.split(',').map((n) => n.trim());
      const unknown = names.filter((n) => !isMetricName(n));
      if (unknown.length > 0) {
        ctx.addIssue({
          code: 'custom',
          message: `unknown metric ${unknown.join(', ')}; known: ${METRIC_NAMES.join(', ')}`,
        });
        return z.NEVER;
      }
      return [...new Set(names)] as MetricName[];
    }),
});
export type MetricsQuery = z.infer<typeof MetricsQuerySchema>;

export const MetricPointSchema = z.object({
  /** The minute (ISO 8601, seconds zero). */
  t: z.string(),
  /** The sum of the minute's values (for ClaimLatency: milliseconds summed; divide by claims for a mean). */
  value: z.number(),
});

export const MetricSeriesSchema = z.object({
  name: z.string(),
  /** Set for a metric counted by a dimension (JobsEnded by outcome, QueueDepth by siteId, …): one series per value. */
  dimensions: z.record(z.string(), z.string()).optional(),
  points: z.array(MetricPointSchema),
});
export type MetricSeries = z.infer<typeof MetricSeriesSchema>;

export const MetricsResponseSchema = z.object({
  from: z.string(),
  to: z.string(),
  metrics: z.array(MetricSeriesSchema),
});
export type MetricsResponse = z.infer<typeof MetricsResponseSchema>;
