import { describe, expect, it } from 'vitest';
import { isFinalJobState, jobIdOf, parseJobId } from '#core/jobs/job.ts';

describe('jobIdOf and parseJobId', () => {
  it.each([
    ['t-000001', 0],
    ['t-01jd3k-9x-abc', 42],
    ['t-abcdef-ghijkl-mnopqr', 999_999],
  ])('round-trips task %s job %i', (taskId, jobIndex) => {
    const jobId = jobIdOf(taskId, jobIndex);
    expect(jobId).toBe(`${taskId}.${jobIndex}`);
    expect(parseJobId(jobId)).toEqual({ taskId, jobIndex });
  });

  it.each(['t-000001', '.5', 't-000001.-1', 't-000001.x'])('rejects %s', (jobId) => {
    expect(parseJobId(jobId)).toBeUndefined();
  });

  it.each(['t-000001.', 't-000001.1e3', 't-000001.01', 't-000001. 2', 't-000001.0x10', 't-000001.1.5'])(
    'rejects the non-canonical job id %s',
    (jobId) => {
      // Number('') is 0 and Number() accepts exponents, hex, spaces and leading zeros; a task id
      // never holds a dot, so two dots are no job id either (see the report).
      expect(parseJobId(jobId)).toBeUndefined();
    },
  );
});

describe('isFinalJobState', () => {
  it('holds for finished, failed and cancelled only', () => {
    const states = ['defined', 'queued', 'starting', 'running', 'finished', 'failed', 'cancelled'] as const;
    expect(states.filter(isFinalJobState)).toEqual(['finished', 'failed', 'cancelled']);
  });
});
