import { describe, expect, it } from 'vitest';
import { parseSince, renderMetricsTable } from '#cli/commands/metrics.ts';

describe('gluon metrics', () => {
  it.each([
    ['90s', 90],
    ['30m', 1800],
    ['1h', 3600],
    ['2d', 172_800],
  ])('reads --since %s as %i seconds', (value, seconds) => {
    expect(parseSince(value)).toBe(seconds);
  });

  it.each(['', '1', 'h', '0m', '-1h', '1w', '1.5h'])('refuses --since %j', (value) => {
    expect(() => parseSince(value)).toThrow(/duration/);
  });

  it('prints one row per minute and one column per series, blank where a series has no value', () => {
    const text = renderMetricsTable({
      from: '2026-01-01T10:00:00.000Z',
      to: '2026-01-01T11:00:00.000Z',
      metrics: [
        { name: 'JobsStarted', points: [{ t: '2026-01-01T10:01:00.000Z', value: 3 }] },
        {
          name: 'JobsEnded',
          dimensions: { outcome: 'failed' },
          points: [
            { t: '2026-01-01T10:00:00.000Z', value: 1 },
            { t: '2026-01-01T10:01:00.000Z', value: 2.345 },
          ],
        },
      ],
    });
    const rows = text.split('\n').map((line) => line.trim().split(/\s{2,}/));
    expect(rows).toEqual([
      ['MINUTE (UTC)', 'JobsStarted', 'JobsEnded{outcome=failed}'],
      ['2026-01-01 10:00', '1'],
      ['2026-01-01 10:01', '3', '2.35'],
    ]);
  });
});
