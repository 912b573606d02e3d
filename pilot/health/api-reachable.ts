import type { HealthCheck } from '#core/pilots/pilot.ts';
import type { ApiProbe } from './api-probe.ts';
import { checkResult } from './check-result.ts';

/** Outbound access to the API: the probe got an HTTP answer. */
export function checkApiReachable(probe: ApiProbe, apiUrl: string): HealthCheck {
  if (probe.reachable) {
    return checkResult(
      'api',
      true,
      `HTTP ${probe.status} in ${Math.max(0, probe.receivedAt - probe.sentAt)} ms`,
    );
  }
  return checkResult('api', false, `unreachable after ${probe.tries} tries`, `${apiUrl}: ${probe.error}`);
}
