import { describe, expect, it } from 'vitest';
import { ConflictError } from '#core/errors.ts';
import { FINAL_TASK_STATES, TASK_STATES, type TaskState } from '#core/tasks/task.ts';
import {
  canTaskTransition,
  nextTaskState,
  TASK_TRANSITIONS,
  type TaskEvent,
  taskEventTo,
} from '#core/tasks/transitions.ts';

/** The task state machine written out by hand: [from, event, to]. */
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
  ['done', 'reopen', 'running'],
  ['partial', 'reopen', 'running'],
  ['failed', 'reopen', 'running'],
];

const TASK_EVENTS = Object.keys(TASK_TRANSITIONS) as TaskEvent[];

function isAllowedTaskMove(from: TaskState, event: TaskEvent): boolean {
  return ALLOWED_TASK_MOVES.some(([f, e]) => f === from && e === event);
}

describe('task transitions', () => {
  it('has exactly the events of the state machine', () => {
    expect([...TASK_EVENTS].sort()).toEqual([
      'cancel',
      'complete',
      'completePartially',
      'fail',
      'reopen',
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
    expect(refused).toHaveLength(36);
  });

  it.each(refused)('throws ConflictError when a task in %s gets %s', (from, event) => {
    expect(canTaskTransition(from, event)).toBe(false);
    expect(() => nextTaskState(from, event)).toThrow(ConflictError);
    expect(() => nextTaskState(from, event)).toThrow(`task cannot ${event} from ${from}`);
  });

  it.each([...FINAL_TASK_STATES])(
    'gives a final task (%s) no way out but a reopen by a resubmit',
    (state) => {
      for (const event of TASK_EVENTS) {
        expect(canTaskTransition(state, event), event).toBe(event === 'reopen' && state !== 'cancelled');
      }
    },
  );
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
