/** The local metrics store: metric lines written by Powertools to a file, read back as per-minute sums. */
import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmfFileMetricsReader, samplesOfEmfLine } from '#adapters/metrics/emf-file-metrics-reader.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gluon-metrics-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const line = (at: string, metrics: Record<string, number>, dimensions: Record<string, string> = {}) =>
  JSON.stringify({
    _aws: {
      Timestamp: new Date(at).getTime(),
      CloudWatchMetrics: [
        {
          Namespace: 'Gluon',
          Dimensions: [Object.keys(dimensions)],
          Metrics: Object.keys(metrics).map((Name) => ({ Name, Unit: 'Count' })),
        },
      ],
    },
    ...dimensions,
    ...metrics,
  });

describe('EmfFileMetricsReader', () => {
  it('reads back what the functions wrote, per minute, skipping lines that are not Gluon metrics', async () => {
    const file = join(dir, 'metrics.ndjson');
    await appendFile(
      file,
      [
        line('2026-01-01T10:00:05Z', { JobsStarted: 2, ClaimLatency: 12 }),
        line('2026-01-01T10:00:55Z', { JobsStarted: 1 }),
        line('2026-01-01T10:01:00Z', { QueueDepth: 40 }, { siteId: 'cern' }),
        line('2026-01-01T10:01:00Z', { QueueDepth: 7 }, { siteId: 'fnal' }),
        '{"level":"INFO","message":"not a metric"}',
        'not json',
        JSON.stringify({
          _aws: {
            Timestamp: 1,
            CloudWatchMetrics: [{ Namespace: 'Other', Metrics: [{ Name: 'JobsStarted' }] }],
          },
          JobsStarted: 9,
        }),
        '',
      ].join('\n'),
    );
    const reader = new EmfFileMetricsReader(file);
    const series = await reader.read({
      from: new Date('2026-01-01T10:00:00Z'),
      to: new Date('2026-01-01T11:00:00Z'),
      names: ['JobsStarted', 'QueueDepth'],
    });
    expect(series).toEqual([
      { name: 'JobsStarted', points: [{ t: '2026-01-01T10:00:00.000Z', value: 3 }] },
      {
        name: 'QueueDepth',
        dimensions: { siteId: 'cern' },
        points: [{ t: '2026-01-01T10:01:00.000Z', value: 40 }],
      },
      {
        name: 'QueueDepth',
        dimensions: { siteId: 'fnal' },
        points: [{ t: '2026-01-01T10:01:00.000Z', value: 7 }],
      },
    ]);
  });

  it('answers no series before any metric was written (no file yet)', async () => {
    const reader = new EmfFileMetricsReader(join(dir, 'absent.ndjson'));
    const range = { from: new Date(0), to: new Date(), names: ['JobsStarted' as const] };
    expect(await reader.read(range)).toEqual([]);
  });

  it('takes every value of a metric written as a list', () => {
    const text = line('2026-01-01T10:00:00Z', { ClaimLatency: 0 }).replace(
      '"ClaimLatency":0',
      '"ClaimLatency":[5,7]',
    );
    expect(samplesOfEmfLine(text).map((s) => s.value)).toEqual([5, 7]);
  });
});
