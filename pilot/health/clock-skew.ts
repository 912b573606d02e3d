import type { HealthCheck } from '#core/pilots/pilot.ts';
import type { ApiProbe } from './api-probe.ts';
import { checkResult } from './check-result.ts';

export interface ClockOffset {
  /** The API's clock minus ours, in ms (positive: ours is behind). */
  offsetMs: number;
  /** How far off the estimate may be: half the round trip plus half the Date header's 1 s resolution. */
  uncertaintyMs: number;
}

/**
 * Our clock against the API's, from the probe's `Date` header. The header has whole seconds, so the
 * server's time is taken as the middle of that second, compared with the middle of the round trip.
 */
export function clockOffset(probe: ApiProbe): ClockOffset | undefined {
  if (!probe.reachable || probe.serverDate === undefined) return undefined;
  const rtt = Math.max(0, probe.receivedAt - probe.sentAt);
  const localMid = probe.sentAt + rtt / 2;
  return {
    offsetMs: Math.round(probe.serverDate + 500 - localMid),
    uncertaintyMs: Math.round(rtt / 2 + 500),
  };
}

/** This node's clock agrees with the API's within `maxSkewSec` (failing only when certainly off by more). */
export function checkClockSkew(probe: ApiProbe, maxSkewSec: number): HealthCheck {
  const offset = clockOffset(probe);
  if (offset === undefined) {
    const why = probe.reachable ? 'the API sent no Date header' : 'the API is unreachable';
    return checkResult('clock', true, 'not measured', `${why}; clock skew not checked`);
  }
  const skewSec = Math.abs(offset.offsetMs) / 1000;
  const value = `skew ${(offset.offsetMs / 1000).toFixed(1)} s ± ${(offset.uncertaintyMs / 1000).toFixed(1)} s against the API`;
  if ((Math.abs(offset.offsetMs) - offset.uncertaintyMs) / 1000 <= maxSkewSec)
    return checkResult('clock', true, value);
  return checkResult(
    'clock',
    false,
    value,
    `this node's clock is off by ${skewSec.toFixed(0)} s, more than ${maxSkewSec} s (--max-clock-skew-sec); is NTP running?`,
  );
}
