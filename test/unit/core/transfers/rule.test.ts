import { describe, expect, it } from 'vitest';
import { retryDelaySec } from '#core/notifications/webhook.ts';
import { countLocks, parseS3Url, placeReplicas, settledState } from '#core/transfers/rule.ts';

describe('placeReplicas', () => {
  it('counts endpoints of the rule already holding an available replica, and sends the missing copies to the others in order', () => {
    expect(
      placeReplicas(['A', 'B', 'C'], 2, [
        { endpointId: 'B', state: 'available' },
        { endpointId: 'X', state: 'available' },
      ]),
    ).toEqual({ held: ['B'], targets: ['A'] });
  });

  it('ignores replicas that are not available (copying, corrupt, unavailable)', () => {
    expect(
      placeReplicas(['A', 'B'], 1, [
        { endpointId: 'A', state: 'corrupt' },
        { endpointId: 'B', state: 'copying' },
      ]),
    ).toEqual({ held: [], targets: ['A'] });
  });

  it('needs no copy when enough endpoints hold the file, and never more held than copies', () => {
    expect(
      placeReplicas(['A', 'B', 'C'], 2, [
        { endpointId: 'C', state: 'available' },
        { endpointId: 'A', state: 'available' },
        { endpointId: 'B', state: 'available' },
      ]),
    ).toEqual({ held: ['A', 'B'], targets: [] });
  });

  it('is deterministic: the same inputs always give the same targets', () => {
    const replicas = [{ endpointId: 'C', state: 'available' as const }];
    const first = placeReplicas(['D', 'C', 'B', 'A'], 3, replicas);
    expect(placeReplicas(['D', 'C', 'B', 'A'], 3, replicas)).toEqual(first);
    expect(first).toEqual({ held: ['C'], targets: ['D', 'B'] });
  });
});

describe('counters and states', () => {
  it('counts locks by state', () => {
    expect(countLocks(2, [{ state: 'available' }, { state: 'copying' }, { state: 'copying' }])).toEqual({
      files: 2,
      available: 1,
      copying: 2,
      failed: 0,
    });
  });

  it('settles ok when nothing copies and nothing failed, stuck when some failed, and keeps deleted', () => {
    const counters = { files: 1, available: 1, copying: 0, failed: 0 };
    expect(settledState({ state: 'replicating', counters })).toBe('ok');
    expect(settledState({ state: 'replicating', counters: { ...counters, copying: 1 } })).toBe('replicating');
    expect(settledState({ state: 'replicating', counters: { ...counters, failed: 1 } })).toBe('stuck');
    expect(settledState({ state: 'deleted', counters })).toBe('deleted');
  });
});

describe('transfer back-off', () => {
  it('doubles from the base after each failed attempt, capped, and stops after the last attempt', () => {
    const schedule = { baseSec: 30, maxDelaySec: 100, maxAttempts: 4 };
    expect([1, 2, 3, 4].map((n) => retryDelaySec(n, schedule))).toEqual([30, 60, 100, undefined]);
  });
});

describe('parseS3Url', () => {
  it('splits s3 URLs and refuses others', () => {
    expect(parseS3Url('s3://b/k/x.root')).toEqual({ bucket: 'b', key: 'k/x.root' });
    expect(parseS3Url('root://eos/x')).toBeUndefined();
    expect(parseS3Url('s3://b')).toBeUndefined();
  });
});
