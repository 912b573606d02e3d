import { describe, expect, it } from 'vitest';
import type { RecordedJobState } from '#core/jobs/job.ts';
import { canJobTransition, JOB_TRANSITIONS, type JobEvent } from '#core/jobs/transitions.ts';

const RECORDED: RecordedJobState[] = ['queued', 'running', 'finished', 'failed', 'cancelled'];
const EVENTS = Object.keys(JOB_TRANSITIONS) as JobEvent[];

/** The job state machine written out by hand: [from, event, to]. */
const ALLOWED: Array<[RecordedJobState, JobEvent, RecordedJobState]> = [
  ['queued', 'claim', 'running'],
  ['running', 'finish', 'finished'],
  ['running', 'fail', 'failed'],
  ['running', 'retry', 'queued'],
  ['running', 'cancel', 'cancelled'],
  ['queued', 'abandon', 'queued'],
];

describe('JOB_TRANSITIONS', () => {
  it('has exactly the events of the job state machine', () => {
    expect([...EVENTS].sort()).toEqual(['abandon', 'cancel', 'claim', 'fail', 'finish', 'retry']);
  });

  it.each(ALLOWED)('moves a job from %s on %s to %s', (from, event, to) => {
    expect(canJobTransition(from, event)).toBe(true);
    expect(JOB_TRANSITIONS[event].to).toBe(to);
  });

  const refused = RECORDED.flatMap((from) =>
    EVENTS.filter((event) => !ALLOWED.some(([f, e]) => f === from && e === event)).map(
      (event): [RecordedJobState, JobEvent] => [from, event],
    ),
  );

  it.each(refused)('refuses a job in %s the event %s', (from, event) => {
    expect(canJobTransition(from, event)).toBe(false);
  });

  it('lets a job without a record be claimed or abandoned only (it is queued at attempt 1)', () => {
    expect(EVENTS.filter((event) => canJobTransition(undefined, event)).sort()).toEqual(['abandon', 'claim']);
  });

  it.each(['finished', 'failed', 'cancelled'] as const)('gives a final job (%s) no way out', (state) => {
    expect(EVENTS.some((event) => canJobTransition(state, event))).toBe(false);
  });
});
