import { describe, expect, it } from 'vitest';
import { MetricsQuerySchema } from '#core/api/metrics.ts';
import { METRIC_NAMES, METRICS } from '#core/metrics/metric-names.ts';
import { sumPerMinute } from '#core/metrics/per-minute.ts';
import type { MetricSample } from '#core/metrics/ports.ts';
import { readMetrics } from '#core/metrics/read-metrics.ts';

const at = (iso: string) => new Date(iso).getTime();
const range = { from: new Date('2026-01-01T10:00:00Z'), to: new Date('2026-01-01T10:05:00Z') };

describe('metric names', () => {
  it('are PascalCase, and only a few are counted by a dimension, never a task, job or pilot id', () => {
    for (const name of METRIC_NAMES) expect(name).toMatch(/^[A-Z][A-Za-z]+$/);
    const dimensions = Object.values(METRICS).flatMap((m) => ('dimension' in m ? [m.dimension] : []));
    expect(dimensions.sort()).toEqual(['outcome', 'pilotErrorCode', 'siteId']);
  });
});

describe('sumPerMinute', () => {
  it('sums each minute of each series, in the order asked, dimension values apart', () => {
    const samples: MetricSample[] = [
      { name: 'JobsStarted', at: at('2026-01-01T10:00:10Z'), value: 2 },
      { name: 'JobsStarted', at: at('2026-01-01T10:00:50Z'), value: 3 },
      { name: 'JobsStarted', at: at('2026-01-01T10:02:00Z'), value: 1 },
      { name: 'JobsEnded', dimensions: { outcome: 'failed' }, at: at('2026-01-01T10:01:00Z'), value: 1 },
      { name: 'JobsEnded', dimensions: { outcome: 'finished' }, at: at('2026-01-01T10:01:30Z'), value: 4 },
      { name: 'JobsEnded', dimensions: { outcome: 'finished' }, at: at('2026-01-01T10:01:59Z'), value: 1 },
      // Outside the range, and a name not asked for.
      { name: 'JobsStarted', at: at('2026-01-01T10:05:00Z'), value: 100 },
      { name: 'JobsStarted', at: at('2026-01-01T09:59:59Z'), value: 100 },
      { name: 'PilotsLost', at: at('2026-01-01T10:01:00Z'), value: 100 },
    ];
    expect(sumPerMinute(samples, { ...range, names: ['JobsEnded', 'JobsStarted'] })).toEqual([
      {
        name: 'JobsEnded',
        dimensions: { outcome: 'failed' },
        points: [{ t: '2026-01-01T10:01:00.000Z', value: 1 }],
      },
      {
        name: 'JobsEnded',
        dimensions: { outcome: 'finished' },
        points: [{ t: '2026-01-01T10:01:00.000Z', value: 5 }],
      },
      {
        name: 'JobsStarted',
        points: [
          { t: '2026-01-01T10:00:00.000Z', value: 5 },
          { t: '2026-01-01T10:02:00.000Z', value: 1 },
        ],
      },
    ]);
  });
});

describe('readMetrics', () => {
  const reader = { read: async () => [] };
  const clock = { now: () => new Date('2026-01-01T12:00:00Z') };
  it('reads the last hour of every metric by default', async () => {
    let asked: unknown;
    const answer = await readMetrics(
      {
        metricsReader: {
          read: async (r) => {
            asked = r;
            return [];
          },
        },
        clock,
      },
      MetricsQuerySchema.parse({}),
    );
    expect(answer).toEqual({ from: '2026-01-01T11:00:00.000Z', to: '2026-01-01T12:00:00.000Z', metrics: [] });
    expect(asked).toMatchObject({ names: METRIC_NAMES });
  });

  it.each([
    [{ from: '2026-01-01T12:00:00Z', to: '2026-01-01T11:00:00Z' }, 'query.from'],
    [{ from: '2025-12-20T00:00:00Z', to: '2026-01-01T00:00:00Z' }, 'query.from'],
  ])('refuses the range %o, naming %s', async (query, field) => {
    await expect(
      readMetrics({ metricsReader: reader, clock }, MetricsQuerySchema.parse(query)),
    ).rejects.toMatchObject({
      issues: [expect.objectContaining({ field })],
    });
  });

  it.each([
    [{ names: 'JobsStarted,Nope' }, 'names'],
    [{ from: 'yesterday' }, 'from'],
  ])('the query schema refuses %o at %s', (query, field) => {
    const result = MetricsQuerySchema.safeParse(query);
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual([field]);
  });
});
