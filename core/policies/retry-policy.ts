import type { ResourceOverride } from '../jobs/job.ts';
import { PILOT_ERROR_CODES, type PilotErrorCode, SYSTEM_ERROR_CODES } from '../pilots/pilot-error-codes.ts';
import type { Resources } from '../tasks/task-spec.ts';

export type AttemptDecision =
  | { event: 'finish' }
  | { event: 'cancel' }
  | { event: 'fail'; failures: number }
  | { event: 'retry'; failures: number };

/**
 * What happens to a job when an attempt ends. Success finishes it; a cancelled task cancels it;
 * system errors (eviction) are retried without using the user's attempt budget; every other
 * error uses one attempt and is retried while attempts are left. An event-service consumer whose
 * pilot vanished is a system error too: the event service exists for resources that vanish, and
 * what the consumer had in flight is retried range by range, within maxRangeAttempts.
 */
export function decideAttempt(input: {
  pilotErrorCode: PilotErrorCode;
  failures: number;
  maxAttempts: number;
  taskCancelled: boolean;
  consumer?: boolean;
}): AttemptDecision {
  const { pilotErrorCode, failures, maxAttempts, taskCancelled } = input;
  if (pilotErrorCode === PILOT_ERROR_CODES.OK) return { event: 'finish' };
  if (taskCancelled || pilotErrorCode === PILOT_ERROR_CODES.CANCELLED) return { event: 'cancel' };
  if (SYSTEM_ERROR_CODES.has(pilotErrorCode)) return { event: 'retry', failures };
  if (input.consumer === true && pilotErrorCode === PILOT_ERROR_CODES.PILOT_LOST)
    return { event: 'retry', failures };
  const used = failures + 1;
  return used < maxAttempts ? { event: 'retry', failures: used } : { event: 'fail', failures: used };
}

/**
 * Retry with more memory or time (the most requested feature of CRAB, WMAgent and HTCondor users):
 * an attempt killed for memory or walltime gets that resource times the task's factor, rounded up
 * and capped by what one slot of the job's site offers. Undefined when nothing can grow.
 */
export function escalateResources(input: {
  pilotErrorCode: PilotErrorCode;
  current: { memoryMB: number; walltimeSec: number };
  factors: { memoryFactor: number; walltimeFactor: number };
  slot: { memoryMB: number; walltimeSec: number } | undefined;
}): ResourceOverride | undefined {
  const { pilotErrorCode, current, factors, slot } = input;
  if (pilotErrorCode === PILOT_ERROR_CODES.MEMORY_EXCEEDED && factors.memoryFactor > 1) {
    const wanted = Math.ceil((current.memoryMB * factors.memoryFactor) / 100) * 100;
    const memoryMB = Math.min(wanted, slot?.memoryMB ?? wanted);
    return memoryMB > current.memoryMB ? { memoryMB } : undefined;
  }
  if (pilotErrorCode === PILOT_ERROR_CODES.WALLTIME_EXCEEDED && factors.walltimeFactor > 1) {
    const wanted = Math.ceil(current.walltimeSec * factors.walltimeFactor);
    const walltimeSec = Math.min(wanted, slot?.walltimeSec ?? wanted);
    return walltimeSec > current.walltimeSec ? { walltimeSec } : undefined;
  }
  return undefined;
}

/** The resources an attempt of this job gets: the task's, with the job's retry overrides. */
export function effectiveResources(
  spec: Resources,
  job: { resources?: ResourceOverride } | undefined,
): Resources {
  return job?.resources === undefined ? spec : { ...spec, ...job.resources };
}
