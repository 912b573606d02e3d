import { describe, expect, it } from 'vitest';
import {
  isPilotErrorCode,
  PILOT_ERROR_CODES,
  PILOT_ERROR_DESCRIPTIONS,
  SYSTEM_ERROR_CODES,
} from '#core/pilots/pilot-error-codes.ts';

describe('PILOT_ERROR_CODES', () => {
  it('gives every code its own number', () => {
    const numbers = Object.values(PILOT_ERROR_CODES);
    expect(new Set(numbers).size).toBe(numbers.length);
  });

  it('describes every code, and nothing else', () => {
    expect(
      Object.keys(PILOT_ERROR_DESCRIPTIONS)
        .map(Number)
        .sort((a, b) => a - b),
    ).toEqual(Object.values(PILOT_ERROR_CODES).sort((a, b) => a - b));
  });

  it('keeps the numbers pilots and bookkeeping share (they never change meaning)', () => {
    expect(PILOT_ERROR_CODES).toMatchObject({
      OK: 0,
      PAYLOAD_FAILED: 1001,
      MEMORY_EXCEEDED: 1102,
      EVICTED: 1302,
      LEASE_LOST: 1303,
      PILOT_LOST: 1304,
      CLAIM_ABANDONED: 1305,
      RANGES_FAILING: 1105,
      CONSUMER_STOPPED: 1306,
      CANCELLED: 1401,
    });
  });
});

describe('isPilotErrorCode', () => {
  it('knows the codes and nothing else', () => {
    expect(isPilotErrorCode(1305)).toBe(true);
    expect(isPilotErrorCode(0)).toBe(true);
    expect(isPilotErrorCode(1306)).toBe(true);
    expect(isPilotErrorCode(1307)).toBe(false);
    expect(isPilotErrorCode(-1)).toBe(false);
  });
});

describe('SYSTEM_ERROR_CODES', () => {
  it('holds stage-in, eviction, a lost pilot, an abandoned claim and a stopped consumer only: the infrastructure errors the default retry rules spend no attempt on', () => {
    expect([...SYSTEM_ERROR_CODES].sort()).toEqual([
      PILOT_ERROR_CODES.STAGE_IN_FAILED,
      PILOT_ERROR_CODES.EVICTED,
      PILOT_ERROR_CODES.PILOT_LOST,
      PILOT_ERROR_CODES.CLAIM_ABANDONED,
      PILOT_ERROR_CODES.CONSUMER_STOPPED,
    ]);
  });
});
