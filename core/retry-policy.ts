import { PILOT_ERROR_CODES, type PilotErrorCode, SYSTEM_ERROR_CODES } from './model/pilot-error-codes.ts';

export type AttemptDecision =
  | { event: 'finish' }
  | { event: 'cancel' }
  | { event: 'fail'; failures: number }
  | { event: 'retry'; failures: number };

/**
 * What happens to a job when an attempt ends. Success finishes it; a cancelled task cancels it;
 * system errors (eviction) are retried without using the user's attempt budget; every other
 * error uses one attempt and is retried while attempts are left.
 */
export function decideAttempt(input: {
  pilotErrorCode: PilotErrorCode;
  failures: number;
  maxAttempts: number;
  taskCancelled: boolean;
}): AttemptDecision {
  const { pilotErrorCode, failures, maxAttempts, taskCancelled } = input;
  if (pilotErrorCode === PILOT_ERROR_CODES.OK) return { event: 'finish' };
  if (taskCancelled || pilotErrorCode === PILOT_ERROR_CODES.CANCELLED) return { event: 'cancel' };
  if (SYSTEM_ERROR_CODES.has(pilotErrorCode)) return { event: 'retry', failures };
  const used = failures + 1;
  return used < maxAttempts ? { event: 'retry', failures: used } : { event: 'fail', failures: used };
}
