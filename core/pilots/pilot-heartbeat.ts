import type { Clock } from '../deps.ts';
import type { JobRef } from '../jobs/job.ts';
import { type HeartbeatAnswer, heartbeatAnswer, leaseExpiry } from './lease.ts';
import type { LivePilotState } from './pilot.ts';
import type { PilotLeaseStore } from './ports.ts';

/**
 * A pilot's heartbeat: one renewal of its own lease, written by the pilot itself (no API call),
 * whatever the number of jobs it holds. The renewed lease answers: go on or kill each job (and
 * why), attempts the pilot never heard it got, or that the pilot is gone.
 */
export async function pilotHeartbeat(
  deps: { leases: Pick<PilotLeaseStore, 'renew'>; clock: Clock; leaseSec: number },
  pilotId: string,
  beat: { state: LivePilotState | 'exited'; held: JobRef[]; jobsRun: number },
): Promise<HeartbeatAnswer> {
  const now = deps.clock.now();
  const lease = await deps.leases.renew(pilotId, {
    state: beat.state,
    expiresAt: leaseExpiry(now.getTime(), deps.leaseSec),
    beatAt: now.toISOString(),
    jobsRun: beat.jobsRun,
  });
  if (beat.state === 'exited' && lease !== undefined) return { pilot: 'live', jobs: [], unknown: [] };
  return heartbeatAnswer(lease, beat.held);
}
