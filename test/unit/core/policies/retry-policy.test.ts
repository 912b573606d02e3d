import { describe, expect, it } from 'vitest';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import { decideAttempt, effectiveResources, escalateResources } from '#core/policies/retry-policy.ts';

const base = { failures: 0, maxAttempts: 3, taskCancelled: false };

describe('decideAttempt', () => {
  it('retries an event-service consumer whose pilot vanished without using an attempt, but not an ordinary job', () => {
    const lost = { ...base, pilotErrorCode: PILOT_ERROR_CODES.PILOT_LOST, failures: 2, maxAttempts: 3 };
    expect(decideAttempt({ ...lost, consumer: true })).toEqual({ event: 'retry', failures: 2 });
    expect(decideAttempt(lost)).toEqual({ event: 'fail', failures: 3 });
    // A consumer's payload failures still count.
    expect(
      decideAttempt({ ...lost, consumer: true, pilotErrorCode: PILOT_ERROR_CODES.RANGES_FAILING }),
    ).toEqual({ event: 'fail', failures: 3 });
  });

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

  it('retries an abandoned claim without using an attempt', () => {
    expect(
      decideAttempt({ ...base, failures: 2, pilotErrorCode: PILOT_ERROR_CODES.CLAIM_ABANDONED }),
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

describe('escalateResources', () => {
  it('raises memory by the factor, rounded up to 100 MB, after a memory kill', () => {
    const current = { memoryMB: 1000, walltimeSec: 600 };
    const factors = { memoryFactor: 1.5, walltimeFactor: 2 };
    const slot = { memoryMB: 4000, walltimeSec: 3600 };
    expect(
      escalateResources({ pilotErrorCode: PILOT_ERROR_CODES.MEMORY_EXCEEDED, current, factors, slot }),
    ).toEqual({
      memoryMB: 1500,
    });
    expect(
      escalateResources({
        pilotErrorCode: PILOT_ERROR_CODES.MEMORY_EXCEEDED,
        current: { ...current, memoryMB: 1234 },
        factors,
        slot,
      }),
    ).toEqual({ memoryMB: 1900 });
    expect(
      escalateResources({ pilotErrorCode: PILOT_ERROR_CODES.WALLTIME_EXCEEDED, current, factors, slot }),
    ).toEqual({
      walltimeSec: 1200,
    });
  });

  it('stays within the slot, and gives nothing when the slot is already reached, the factor is 1, or another error', () => {
    const factors = { memoryFactor: 1.5, walltimeFactor: 1.5 };
    const slot = { memoryMB: 2000, walltimeSec: 3600 };
    const memory = PILOT_ERROR_CODES.MEMORY_EXCEEDED;
    expect(
      escalateResources({
        pilotErrorCode: memory,
        current: { memoryMB: 1800, walltimeSec: 60 },
        factors,
        slot,
      }),
    ).toEqual({
      memoryMB: 2000,
    });
    expect(
      escalateResources({
        pilotErrorCode: memory,
        current: { memoryMB: 2000, walltimeSec: 60 },
        factors,
        slot,
      }),
    ).toBeUndefined();
    expect(
      escalateResources({
        pilotErrorCode: memory,
        current: { memoryMB: 1000, walltimeSec: 60 },
        factors: { memoryFactor: 1, walltimeFactor: 1.5 },
        slot,
      }),
    ).toBeUndefined();
    expect(
      escalateResources({
        pilotErrorCode: PILOT_ERROR_CODES.PAYLOAD_FAILED,
        current: { memoryMB: 1000, walltimeSec: 60 },
        factors,
        slot,
      }),
    ).toBeUndefined();
  });
});

describe('escalateResources without a slot', () => {
  it('raises without a cap when the slot of the job site is unknown', () => {
    expect(
      escalateResources({
        pilotErrorCode: PILOT_ERROR_CODES.WALLTIME_EXCEEDED,
        current: { memoryMB: 1000, walltimeSec: 1001 },
        factors: { memoryFactor: 1.5, walltimeFactor: 1.5 },
        slot: undefined,
      }),
    ).toEqual({ walltimeSec: 1502 });
  });
});

describe('effectiveResources', () => {
  const spec = { cores: 2, memoryMB: 2000, walltimeSec: 3600, diskMB: 1000 };

  it("gives the task's resources to a job without overrides", () => {
    expect(effectiveResources(spec, undefined)).toBe(spec);
    expect(effectiveResources(spec, {})).toBe(spec);
  });

  it('replaces the resources a retry raised, and only those', () => {
    expect(effectiveResources(spec, { resources: { memoryMB: 3000 } })).toEqual({ ...spec, memoryMB: 3000 });
    expect(effectiveResources(spec, { resources: { memoryMB: 3000, walltimeSec: 5400 } })).toEqual({
      ...spec,
      memoryMB: 3000,
      walltimeSec: 5400,
    });
  });
});
