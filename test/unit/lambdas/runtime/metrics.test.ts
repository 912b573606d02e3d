import { describe, expect, it } from 'vitest';
import { emitMetrics } from '#lambdas/runtime/metrics.ts';

describe('emitMetrics', () => {
  it('writes one Embedded Metric Format line in the Gluon namespace without dimensions', () => {
    const lines: string[] = [];
    emitMetrics({ JobsReaped: 3, PilotsLost: 0 }, (line) => lines.push(line));
    expect(lines).toHaveLength(1);
    const record = JSON.parse(lines[0] ?? '{}');
    expect(record.JobsReaped).toBe(3);
    expect(record.PilotsLost).toBe(0);
    expect(record._aws.CloudWatchMetrics).toEqual([
      {
        Namespace: 'Gluon',
        Dimensions: [[]],
        Metrics: [
          { Name: 'JobsReaped', Unit: 'Count' },
          { Name: 'PilotsLost', Unit: 'Count' },
        ],
      },
    ]);
    expect(typeof record._aws.Timestamp).toBe('number');
  });

  it('writes nothing for no metrics', () => {
    const lines: string[] = [];
    emitMetrics({}, (line) => lines.push(line));
    expect(lines).toEqual([]);
  });
});
