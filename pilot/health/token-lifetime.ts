import type { HealthCheck } from '#core/pilots/pilot.ts';
import { checkResult } from './check-result.ts';

/**
 * The `exp` claim (seconds since the epoch) of a JWT, read without verifying the signature;
 * undefined when the token is not a JWT or has no numeric `exp`.
 */
export function jwtExpiry(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || parts[1] === undefined) return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    if (claims === null || typeof claims !== 'object') return undefined;
    const exp = (claims as { exp?: unknown }).exp;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp : undefined;
  } catch {
    return undefined;
  }
}

function formatSec(sec: number): string {
  const abs = Math.abs(sec);
  if (abs >= 86_400) return `${(sec / 86_400).toFixed(1)} d`;
  if (abs >= 3600) return `${(sec / 3600).toFixed(1)} h`;
  if (abs >= 60) return `${Math.round(sec / 60)} min`;
  return `${Math.round(sec)} s`;
}

/**
 * The token is valid for long enough. `serverOffsetMs` (the API's clock minus ours, when measured)
 * makes the judgement by the clock that will check the token.
 */
export function checkTokenLifetime(options: {
  token: string;
  minLifetimeSec: number;
  nowMs?: number;
  serverOffsetMs?: number;
}): HealthCheck {
  const exp = jwtExpiry(options.token);
  if (exp === undefined) return checkResult('token', true, 'not a JWT: lifetime not checked');
  const now = (options.nowMs ?? Date.now()) + (options.serverOffsetMs ?? 0);
  const leftSec = exp - now / 1000;
  const at = new Date(exp * 1000).toISOString();
  if (leftSec <= 0)
    return checkResult('token', false, `expired ${formatSec(-leftSec)} ago (${at})`, 'the token has expired');
  const value = `valid for ${formatSec(leftSec)} (until ${at})`;
  if (leftSec >= options.minLifetimeSec) return checkResult('token', true, value);
  return checkResult(
    'token',
    false,
    value,
    `the token expires in less than ${formatSec(options.minLifetimeSec)} (--min-token-lifetime-sec)`,
  );
}
