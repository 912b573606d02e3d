import { describe, expect, it } from 'vitest';
import { parseRetryAfter, retryDelayMs } from '#client/gluon-client.ts';

describe('retryDelayMs', () => {
  const options = { baseMs: 500, maxMs: 10_000 };

  it.each([
    // attempt, random, expected: backoff 500·2^attempt capped at 10 s, then half of it + random half
    [0, 0, 250],
    [0, 1, 500],
    [1, 0, 500],
    [1, 0.5, 750],
    [2, 1, 2_000],
    [4, 1, 8_000],
    [5, 0, 5_000],
    [5, 1, 10_000],
    [12, 1, 10_000],
  ])('waits for retry %i with random %d: %i ms', (attempt, random, expected) => {
    expect(retryDelayMs(attempt, options, () => random)).toBe(expected);
  });

  it('waits as long as Retry-After says, whatever the attempt', () => {
    expect(retryDelayMs(0, { ...options, retryAfterMs: 3_000 }, () => 0)).toBe(3_000);
    expect(retryDelayMs(9, { ...options, retryAfterMs: 0 }, () => 1)).toBe(0);
  });
});

describe('parseRetryAfter', () => {
  const NOW = Date.parse('2026-11-25T12:00:00Z');

  it.each<[string | null, number | undefined]>([
    ['2', 2_000],
    [' 0 ', 0],
    ['120', 60_000],
    ['Wed, 25 Nov 2026 12:00:05 GMT', 5_000],
    ['Wed, 25 Nov 2026 11:59:00 GMT', 0],
    ['Wed, 25 Nov 2026 13:00:00 GMT', 60_000],
    ['-1', undefined],
    ['1.5', undefined],
    ['soon', undefined],
    ['', undefined],
    [null, undefined],
  ])('reads %j as %s ms', (header, expected) => {
    expect(parseRetryAfter(header, NOW)).toBe(expected);
  });
});
