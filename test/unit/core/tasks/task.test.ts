import { describe, expect, it } from 'vitest';
import { emptyJobCounts, type JobCounts } from '#core/jobs/job-counts.ts';
import { finalTaskState, isFinalTaskState, TASK_STATES } from '#core/tasks/task.ts';

function counts(fields: Partial<JobCounts>): JobCounts {
  return { ...emptyJobCounts(), ...fields };
}

describe('finalTaskState', () => {
  const task = { cancelRequested: false, jobCount: 10 };

  it('is done when every job finished', () => {
    expect(finalTaskState(task, counts({ finished: 10 }))).toBe('done');
  });

  it('is partial when some jobs finished and some did not', () => {
    expect(finalTaskState(task, counts({ finished: 9, failed: 1 }))).toBe('partial');
    expect(finalTaskState(task, counts({ finished: 1, cancelled: 9 }))).toBe('partial');
  });

  it('is failed when no job finished', () => {
    expect(finalTaskState(task, counts({ failed: 10 }))).toBe('failed');
  });

  it('is cancelled when the owner cancelled, whatever the counts', () => {
    const cancelled = { cancelRequested: true, jobCount: 10 };
    expect(finalTaskState(cancelled, counts({ finished: 3, cancelled: 7 }))).toBe('cancelled');
    expect(finalTaskState(cancelled, counts({ finished: 10 }))).toBe('cancelled');
  });
});

describe('isFinalTaskState', () => {
  it('holds for done, partial, failed and cancelled only', () => {
    expect(TASK_STATES.filter(isFinalTaskState)).toEqual(['done', 'partial', 'failed', 'cancelled']);
  });
});
