import { PILOT_ERROR_CODES, type PilotErrorCode } from '../pilots/pilot-error-codes.ts';
import { type Attempt, type AttemptEndState, isFinalJobState } from './job.ts';
import type { JobRecordChange } from './ports.ts';

/** End states the pilot error code alone says; every other non-zero code is a failure. */
const END_STATES: ReadonlyMap<PilotErrorCode, AttemptEndState> = new Map([
  [PILOT_ERROR_CODES.OK, 'finished'],
  [PILOT_ERROR_CODES.EVICTED, 'evicted'],
  [PILOT_ERROR_CODES.PILOT_LOST, 'lost'],
  [PILOT_ERROR_CODES.CLAIM_ABANDONED, 'abandoned'],
  [PILOT_ERROR_CODES.CANCELLED, 'cancelled'],
]);

/** How an attempt ended, from its pilot error code (a final job's record keeps the code, not the state). */
export function attemptStateOf(code: PilotErrorCode): AttemptEndState {
  return END_STATES.get(code) ?? 'failed';
}

/**
 * The attempt a change of a job record ended, if any: a retried attempt (`ended` newly set on a
 * record queued again), or the last attempt of a job that became final, read off the record (a
 * job cancelled before any pilot ran it ended no attempt). A replayed change gives the same attempt.
 */
export function endedAttemptOf(
  change: JobRecordChange,
): { taskId: string; jobIndex: number; attempt: Attempt } | undefined {
  const { before, after } = change;
  if (after === undefined) return undefined;
  const { taskId, jobIndex } = after;
  if (after.ended !== undefined && before?.ended?.attempt !== after.ended.attempt) {
    return { taskId, jobIndex, attempt: after.ended };
  }
  const newlyFinal =
    isFinalJobState(after.state) &&
    (before === undefined || before.state !== after.state || before.attempt !== after.attempt);
  if (!newlyFinal || after.pilotId === undefined || after.pilotErrorCode === undefined) return undefined;
  const endedAt = after.endedAt ?? after.updatedAt;
  return {
    taskId,
    jobIndex,
    attempt: {
      attempt: after.attempt,
      pilotId: after.pilotId,
      siteId: after.siteId,
      ...(after.host === undefined ? {} : { host: after.host }),
      state: attemptStateOf(after.pilotErrorCode),
      startedAt: after.startedAt ?? endedAt,
      endedAt,
      pilotErrorCode: after.pilotErrorCode,
      ...(after.exitCode === undefined ? {} : { exitCode: after.exitCode }),
      ...(after.usage === undefined ? {} : { usage: after.usage }),
      ...(after.resources === undefined ? {} : { resources: after.resources }),
    },
  };
}
