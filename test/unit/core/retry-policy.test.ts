import { describe, expect, it } from 'vitest';
import { PILOT_ERROR_CODES } from '#core/model/pilot-error-codes.ts';
import { decideAttempt } from '#core/retry-policy.ts';

const base = { failures: 0, maxAttempts: 3, taskCancelled: false };

describe('decideAttempt', () => {
  it('finishes the job when the attempt succeeded', () => {
    expect(decideAttempt({ ...base, pilotErrorCode: PILOT_ERROR_CODES.OK })).toEqual({ event: 'finish' });
  });

  it('finishes a successful attempt even when the task was cancelled meanwhile', () => {
    expect(decideAttempt({ ...base, pilotErrorCode: PILOT_ERROR_CODES.OK, taskCancelled: true })).toEqual({
      event: 'finish',
    });
  });

  it('cancels the job when the task was cancelled and the attempt failed', () => {
    expect(
      decideAttempt({ ...base, pilotErrorCode: PILOT_ERROR_CODES.PAYLOAD_FAILED, taskCancelled: true }),
    ).toEqual({ event: 'cancel' });
  });

  it('cancels the job when the pilot reports it was cancelled', () => {
    expect(decideAttempt({ ...base, pilotErrorCode: PILOT_ERROR_CODES.CANCELLED })).toEqual({
      event: 'cancel',
    });
  });

  it('retries an eviction without using an attempt', () => {
    expect(decideAttempt({ ...base, failures: 2, pilotErrorCode: PILOT_ERROR_CODES.EVICTED })).toEqual({
      event: 'retry',
      failures: 2,
    });
  });

  it('counts a payload failure and retries while attempts are left', () => {
    expect(decideAttempt({ ...base, pilotErrorCode: PILOT_ERROR_CODES.PAYLOAD_FAILED })).toEqual({
      event: 'retry',
      failures: 1,
    });
    expect(
      decideAttempt({ ...base, failures: 1, pilotErrorCode: PILOT_ERROR_CODES.MEMORY_EXCEEDED }),
    ).toEqual({
      event: 'retry',
      failures: 2,
    });
  });

  it('counts a lost pilot as a failure', () => {
    expect(decideAttempt({ ...base, pilotErrorCode: PILOT_ERROR_CODES.PILOT_LOST })).toEqual({
      event: 'retry',
      failures: 1,
    });
  });

  it('fails the job when its last attempt fails', () => {
    expect(decideAttempt({ ...base, failures: 2, pilotErrorCode: PILOT_ERROR_CODES.PAYLOAD_FAILED })).toEqual(
      {
        event: 'fail',
        failures: 3,
      },
    );
  });

  it('fails at once when only one attempt is allowed', () => {
    expect(
      decideAttempt({ ...base, maxAttempts: 1, pilotErrorCode: PILOT_ERROR_CODES.STAGE_OUT_FAILED }),
    ).toEqual({ event: 'fail', failures: 1 });
  });
});
