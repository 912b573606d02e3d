/**
 * Lease arithmetic, in one place. A pilot's lease covers every job it holds: a heartbeat renews it
 * (one write, whatever the number of jobs), and so do its claims and reports. The reaper declares
 * a pilot lost once its lease has expired.
 */
import { attemptKey, type JobRef, parseAttemptKey } from '../jobs/job.ts';
import {
  type HeartbeatAction,
  isLivePilotState,
  KILL_REASONS,
  type KillReason,
  killEntry,
  type PilotLease,
} from './pilot.ts';

/** When a lease taken or renewed at `nowMs` expires. */
export function leaseExpiry(nowMs: number, leaseSec: number): number {
  return nowMs + leaseSec * 1000;
}

export function isLeaseExpired(lease: Pick<PilotLease, 'expiresAt'>, nowMs: number): boolean {
  return lease.expiresAt < nowMs;
}

/**
 * The longest a vanished pilot's jobs wait before they are queued again: its lease runs out (at
 * most leaseSec after its last heartbeat), then the reaper's next sweep finds it.
 */
export function recoveryBoundSec(settings: { leaseSec: number }, reapEverySec: number): number {
  return settings.leaseSec + reapEverySec;
}

/** The kill entries that may exist for an attempt (dropped when it is reported). */
export function killEntriesOf(ref: JobRef): string[] {
  return KILL_REASONS.map((reason) => killEntry(attemptKey(ref), reason));
}

function killReasonOf(lease: PilotLease, ref: JobRef): KillReason | undefined {
  const key = attemptKey(ref);
  for (const reason of KILL_REASONS) if (lease.kill.includes(killEntry(key, reason))) return reason;
  return undefined;
}

export type HeartbeatAnswer =
  | { pilot: 'gone' }
  | {
      pilot: 'live';
      /** What to do with each job the pilot holds. */
      jobs: Array<JobRef & { action: HeartbeatAction }>;
      /** Attempts the lease lists that the pilot does not know it holds (a claim whose answer was lost). */
      unknown: JobRef[];
    };

/**
 * What a renewed lease tells its pilot: for each job it holds, go on or kill it (and why); the
 * attempts the lease lists that the pilot never heard it got; or that the pilot is gone (its lease
 * expired and its jobs were queued again): it must stop everything and register again.
 */
export function heartbeatAnswer(lease: PilotLease | undefined, held: JobRef[]): HeartbeatAnswer {
  if (lease === undefined || !isLivePilotState(lease.state)) return { pilot: 'gone' };
  const jobs = held.map((ref) => {
    const reason = killReasonOf(lease, ref);
    const action: HeartbeatAction =
      reason === 'cancelled' ? 'kill-cancelled' : reason === 'lease-lost' ? 'kill-lease-lost' : 'continue';
    return { ...ref, action };
  });
  const heldKeys = new Set(held.map(attemptKey));
  const unknown = lease.jobs
    .filter((key) => !heldKeys.has(key))
    .map(parseAttemptKey)
    .filter((ref): ref is JobRef => ref !== undefined);
  return { pilot: 'live', jobs, unknown };
}
