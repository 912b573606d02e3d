import { describe, expect, it } from 'vitest';
import {
  attemptKey,
  isFinalJobState,
  JOB_STATES,
  jobIdOf,
  parseAttemptKey,
  parseJobId,
  RECORDED_MESSAGE_MAX,
  recordedMessage,
  sameAttempt,
} from '#core/jobs/job.ts';

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

  it.each(['t-000001', '.5', 't-000001.-1', 't-000001.x'])('rejects %s when it names no job', (jobId) => {
    expect(parseJobId(jobId)).toBeUndefined();
  });

  it.each(['t-000001.', 't-000001.1e3', 't-000001.01', 't-000001. 2', 't-000001.0x10', 't-000001.1.5'])(
    'rejects the non-canonical job id %s',
    (jobId) => {
      // Number() accepts '', exponents, hex, spaces and leading zeros; a task id never holds a dot.
      expect(parseJobId(jobId)).toBeUndefined();
    },
  );

  it('rejects a job index beyond the safe integers', () => {
    expect(parseJobId('t-000001.9007199254740993')).toBeUndefined();
  });
});

describe('attemptKey and parseAttemptKey', () => {
  it('writes an attempt as taskId.jobIndex.attempt and reads it back', () => {
    const ref = { taskId: 't-000001', jobIndex: 7, attempt: 2 };
    expect(attemptKey(ref)).toBe('t-000001.7.2');
    expect(parseAttemptKey('t-000001.7.2')).toEqual(ref);
  });

  it.each(['t-000001.7', 't-000001.7.0', 't-000001.07.1', 't-000001.7.1|cancelled', 'x', 't-000001.-1.1'])(
    'reads nothing from %s when it is no attempt key',
    (key) => {
      expect(parseAttemptKey(key)).toBeUndefined();
    },
  );
});

describe('sameAttempt', () => {
  const ref = { taskId: 't-000001', jobIndex: 3, attempt: 1 };

  it('holds when task, job and attempt are the same', () => {
    expect(sameAttempt(ref, { ...ref })).toBe(true);
  });

  it.each([{ taskId: 't-000002' }, { jobIndex: 4 }, { attempt: 2 }])('fails when %o differs', (change) => {
    expect(sameAttempt(ref, { ...ref, ...change })).toBe(false);
  });
});

describe('isFinalJobState', () => {
  it('holds for finished, failed and cancelled only', () => {
    expect(JOB_STATES.filter(isFinalJobState)).toEqual(['finished', 'failed', 'cancelled']);
  });

  it('knows no starting state any more: a claim moves a job straight to running', () => {
    expect(JOB_STATES).toEqual(['defined', 'queued', 'running', 'finished', 'failed', 'cancelled']);
  });
});

describe('recordedMessage', () => {
  it('keeps a short message as it is', () => {
    expect(recordedMessage('segfault')).toBe('segfault');
    expect(recordedMessage(undefined)).toBeUndefined();
  });

  it('cuts a long message to the recorded maximum, ending in an ellipsis', () => {
    const cut = recordedMessage('x'.repeat(RECORDED_MESSAGE_MAX + 10));
    expect(cut).toHaveLength(RECORDED_MESSAGE_MAX);
    expect(cut?.endsWith('…')).toBe(true);
    expect(recordedMessage('y'.repeat(RECORDED_MESSAGE_MAX))).toBe('y'.repeat(RECORDED_MESSAGE_MAX));
  });
});
