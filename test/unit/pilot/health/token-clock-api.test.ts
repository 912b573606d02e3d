import { describe, expect, it } from 'vitest';
import type { ApiProbe } from '#pilot/health/api-probe.ts';
import { checkApiReachable } from '#pilot/health/api-reachable.ts';
import { checkClockSkew, clockOffset } from '#pilot/health/clock-skew.ts';
import { checkTokenLifetime, jwtExpiry } from '#pilot/health/token-lifetime.ts';

const NOW = Date.parse('2026-11-25T12:00:00Z');

function jwt(claims: Record<string, unknown>): string {
  const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'ES256', typ: 'JWT' })}.${part(claims)}.c2lnbmF0dXJl`;
}

describe('jwtExpiry', () => {
  it('reads exp without verifying the signature', () => {
    expect(jwtExpiry(jwt({ sub: 'pilot:site-a', exp: NOW / 1000 + 3600 }))).toBe(NOW / 1000 + 3600);
  });

  it('is undefined for opaque tokens and tokens without exp', () => {
    expect(jwtExpiry('opaque-token')).toBeUndefined();
    expect(jwtExpiry(jwt({ sub: 'x' }))).toBeUndefined();
    expect(jwtExpiry('a.%%%.c')).toBeUndefined();
  });
});

describe('checkTokenLifetime', () => {
  it('passes a token valid for longer than the minimum', () => {
    const check = checkTokenLifetime({
      token: jwt({ exp: NOW / 1000 + 7200 }),
      minLifetimeSec: 600,
      nowMs: NOW,
    });
    expect(check).toEqual({
      name: 'token',
      ok: true,
      value: 'valid for 2.0 h (until 2026-11-25T14:00:00.000Z)',
    });
  });

  it('fails an expired token', () => {
    const check = checkTokenLifetime({
      token: jwt({ exp: NOW / 1000 - 120 }),
      minLifetimeSec: 600,
      nowMs: NOW,
    });
    expect(check).toMatchObject({ ok: false, value: 'expired 2 min ago (2026-11-25T11:58:00.000Z)' });
    expect(check.message).toBe('the token has expired');
  });

  it('fails a token that expires too soon, judged by the API’s clock when known', () => {
    const token = jwt({ exp: NOW / 1000 + 900 });
    expect(checkTokenLifetime({ token, minLifetimeSec: 600, nowMs: NOW }).ok).toBe(true);
    const late = checkTokenLifetime({ token, minLifetimeSec: 600, nowMs: NOW, serverOffsetMs: 400_000 });
    expect(late.ok).toBe(false);
    expect(late.message).toContain('--min-token-lifetime-sec');
  });

  it('passes an opaque token, saying its lifetime is not checked', () => {
    expect(checkTokenLifetime({ token: 'opaque', minLifetimeSec: 600 })).toEqual({
      name: 'token',
      ok: true,
      value: 'not a JWT: lifetime not checked',
    });
  });
});

const reached = (serverDate: number | undefined, sentAt = NOW, receivedAt = NOW + 100): ApiProbe => ({
  reachable: true,
  status: 404,
  sentAt,
  receivedAt,
  ...(serverDate === undefined ? {} : { serverDate }),
});

describe('clock skew', () => {
  it('estimates the offset from the Date header against the middle of the round trip', () => {
    // Server second 12:00:00 → taken as 12:00:00.5; our middle is 12:00:00.05.
    expect(clockOffset(reached(NOW))).toEqual({ offsetMs: 450, uncertaintyMs: 550 });
  });

  it('passes a small skew and fails one beyond the threshold (past the uncertainty)', () => {
    expect(checkClockSkew(reached(NOW + 3000), 120).ok).toBe(true);
    const ahead = checkClockSkew(reached(NOW - 300_000), 120);
    expect(ahead.ok).toBe(false);
    expect(ahead.value).toContain('skew -299.6 s');
    expect(ahead.message).toContain('--max-clock-skew-sec');
    // 121 s off, ±0.55 s: not certainly beyond 120.5 … but beyond 120.
    expect(checkClockSkew(reached(NOW + 121_000), 120).ok).toBe(false);
    expect(checkClockSkew(reached(NOW + 120_000), 120).ok).toBe(true);
  });

  it('passes as not measured without a Date header or without an answer', () => {
    expect(checkClockSkew(reached(undefined), 120)).toMatchObject({ ok: true, value: 'not measured' });
    expect(checkClockSkew({ reachable: false, error: 'ECONNREFUSED', tries: 3 }, 120).ok).toBe(true);
  });
});

describe('checkApiReachable', () => {
  it('passes on any HTTP answer and fails when there was none', () => {
    expect(checkApiReachable(reached(NOW), 'http://api')).toEqual({
      name: 'api',
      ok: true,
      value: 'HTTP 404 in 100 ms',
    });
    expect(checkApiReachable({ reachable: false, error: 'ECONNREFUSED', tries: 3 }, 'http://api')).toEqual({
      name: 'api',
      ok: false,
      value: 'unreachable after 3 tries',
      message: 'http://api: ECONNREFUSED',
    });
  });
});
