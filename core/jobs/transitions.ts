import type { RecordedJobState } from './job.ts';

/**
 * The job state machine, as one table: event → allowed source states → target state. `claim`
 * and `abandon` also apply to a job without a record (queued at attempt 1, never claimed).
 * `retry` and `abandon` start a new attempt of the same job.
 */
export const JOB_TRANSITIONS = {
  claim: { from: ['queued'], to: 'running' },
  finish: { from: ['running'], to: 'finished' },
  fail: { from: ['running'], to: 'failed' },
  retry: { from: ['running'], to: 'queued' },
  cancel: { from: ['running'], to: 'cancelled' },
  abandon: { from: ['queued'], to: 'queued' },
} as const satisfies Record<string, { from: readonly RecordedJobState[]; to: RecordedJobState }>;

export type JobEvent = keyof typeof JOB_TRANSITIONS;

/** The events that end a running attempt. */
export type AttemptEndEvent = 'finish' | 'fail' | 'retry' | 'cancel';

export function canJobTransition(from: RecordedJobState | undefined, event: JobEvent): boolean {
  if (from === undefined) return event === 'claim' || event === 'abandon';
  return (JOB_TRANSITIONS[event].from as readonly RecordedJobState[]).includes(from);
}
