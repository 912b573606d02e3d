import { describe, expect, it } from 'vitest';
import { ConflictError } from '#core/errors.ts';
import { FINAL_JOB_STATES, JOB_STATES, type JobState } from '#core/jobs/job.ts';
import { FINAL_TASK_STATES, TASK_STATES, type TaskState } from '#core/tasks/task.ts';
import {
  canJobTransition,
  canTaskTransition,
  JOB_TRANSITIONS,
  type JobEvent,
  jobTransition,
  nextJobState,
  nextTaskState,
  TASK_TRANSITIONS,
  type TaskEvent,
  taskEventTo,
} from '#core/tasks/transitions.ts';

/** The job state machine written out by hand: [from, event, to]. */
const ALLOWED_JOB_MOVES: Array<[JobState, JobEvent, JobState]> = [
  ['defined', 'enqueue', 'queued'],
  ['queued', 'claim', 'starting'],
  ['starting', 'start', 'running'],
  ['starting', 'finish', 'finished'],
  ['running', 'finish', 'finished'],
  ['starting', 'fail', 'failed'],
  ['running', 'fail', 'failed'],
  ['starting', 'retry', 'queued'],
  ['running', 'retry', 'queued'],
  ['defined', 'cancel', 'cancelled'],
  ['queued', 'cancel', 'cancelled'],
  ['starting', 'cancel', 'cancelled'],
  ['running', 'cancel', 'cancelled'],
];

const ALLOWED_TASK_MOVES: Array<[TaskState, TaskEvent, TaskState]> = [
  ['submitted', 'split', 'splitting'],
  ['splitting', 'run', 'running'],
  ['running', 'complete', 'done'],
  ['running', 'completePartially', 'partial'],
  ['submitted', 'fail', 'failed'],
  ['splitting', 'fail', 'failed'],
  ['running', 'fail', 'failed'],
  ['submitted', 'cancel', 'cancelled'],
  ['splitting', 'cancel', 'cancelled'],
  ['running', 'cancel', 'cancelled'],
];

const JOB_EVENTS = Object.keys(JOB_TRANSITIONS) as JobEvent[];
const TASK_EVENTS = Object.keys(TASK_TRANSITIONS) as TaskEvent[];

function isAllowedJobMove(from: JobState, event: JobEvent): boolean {
  return ALLOWED_JOB_MOVES.some(([f, e]) => f === from && e === event);
}

function isAllowedTaskMove(from: TaskState, event: TaskEvent): boolean {
  return ALLOWED_TASK_MOVES.some(([f, e]) => f === from && e === event);
}

describe('job transitions', () => {
  it('has exactly the events of the state machine', () => {
    expect([...JOB_EVENTS].sort()).toEqual([
      'cancel',
      'claim',
      'enqueue',
      'fail',
      'finish',
      'retry',
      'start',
    ]);
  });

  it.each(ALLOWED_JOB_MOVES)('moves a job from %s on %s to %s', (from, event, to) => {
    expect(canJobTransition(from, event)).toBe(true);
    expect(nextJobState(from, event)).toBe(to);
    expect(jobTransition(event).to).toBe(to);
  });

  const refused = JOB_STATES.flatMap((from) =>
    JOB_EVENTS.filter((event) => !isAllowedJobMove(from, event)).map((event): [JobState, JobEvent] => [
      from,
      event,
    ]),
  );

  it('refuses every other (state, event) pair of a job', () => {
    // 7 states × 7 events minus the 13 allowed moves.
    expect(refused).toHaveLength(JOB_STATES.length * JOB_EVENTS.length - ALLOWED_JOB_MOVES.length);
    expect(refused).toHaveLength(36);
  });

  it.each(refused)('throws ConflictError when a job in %s gets %s', (from, event) => {
    expect(canJobTransition(from, event)).toBe(false);
    expect(() => nextJobState(from, event)).toThrow(ConflictError);
    expect(() => nextJobState(from, event)).toThrow(`job cannot ${event} from ${from}`);
  });

  it.each([...FINAL_JOB_STATES])('gives a final job (%s) no way out', (state) => {
    for (const event of JOB_EVENTS) expect(canJobTransition(state, event)).toBe(false);
  });

  it('lets every non-final job state be left by some event', () => {
    for (const state of JOB_STATES.filter((s) => !FINAL_JOB_STATES.has(s))) {
      expect(JOB_EVENTS.some((event) => canJobTransition(state, event))).toBe(true);
    }
  });
});

describe('task transitions', () => {
  it('has exactly the events of the state machine', () => {
    expect([...TASK_EVENTS].sort()).toEqual([
      'cancel',
      'complete',
      'completePartially',
      'fail',
      'run',
      'split',
    ]);
  });

  it.each(ALLOWED_TASK_MOVES)('moves a task from %s on %s to %s', (from, event, to) => {
    expect(canTaskTransition(from, event)).toBe(true);
    expect(nextTaskState(from, event)).toBe(to);
  });

  const refused = TASK_STATES.flatMap((from) =>
    TASK_EVENTS.filter((event) => !isAllowedTaskMove(from, event)).map((event): [TaskState, TaskEvent] => [
      from,
      event,
    ]),
  );

  it('refuses every other (state, event) pair of a task', () => {
    expect(refused).toHaveLength(TASK_STATES.length * TASK_EVENTS.length - ALLOWED_TASK_MOVES.length);
    expect(refused).toHaveLength(32);
  });

  it.each(refused)('throws ConflictError when a task in %s gets %s', (from, event) => {
    expect(canTaskTransition(from, event)).toBe(false);
    expect(() => nextTaskState(from, event)).toThrow(ConflictError);
    expect(() => nextTaskState(from, event)).toThrow(`task cannot ${event} from ${from}`);
  });

  it.each([...FINAL_TASK_STATES])('gives a final task (%s) no way out', (state) => {
    for (const event of TASK_EVENTS) expect(canTaskTransition(state, event)).toBe(false);
  });
});

describe('taskEventTo', () => {
  it.each([
    ['done', 'complete'],
    ['partial', 'completePartially'],
    ['failed', 'fail'],
    ['cancelled', 'cancel'],
  ] as const)('leads a running task to %s with %s', (state, event) => {
    expect(taskEventTo(state)).toBe(event);
    expect(nextTaskState('running', taskEventTo(state))).toBe(state);
  });
});
