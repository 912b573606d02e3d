import { describe, expect, it } from 'vitest';
import {
  ClaimRequestSchema,
  ClaimResponseSchema,
  CompleteRequestSchema,
  ReportSchema,
} from '#core/api/pilots.ts';
import { BIG_PILOT } from '../scenario.ts';

const ref = { taskId: 't-000001', jobIndex: 0, attempt: 1 };
const usage = { wallTimeSec: 1, cpuTimeSec: 1, maxRssKB: 1 };

describe('ReportSchema', () => {
  it('fills no outputs when the pilot gives none', () => {
    expect(ReportSchema.parse({ ...ref, pilotErrorCode: 0, usage }).outputs).toEqual([]);
  });

  it('refuses a pilot error code that is not known', () => {
    const result = ReportSchema.safeParse({ ...ref, pilotErrorCode: 1999, usage });
    expect(result.error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
      ['pilotErrorCode', 'a known pilot error code (see README)'],
    ]);
  });

  it('refuses attempt 0 and a task id that is not one', () => {
    const result = ReportSchema.safeParse({ ...ref, taskId: 'task-1', attempt: 0, pilotErrorCode: 0, usage });
    expect(result.error?.issues.map((i) => i.path.join('.')).sort()).toEqual(['attempt', 'taskId']);
  });
});

describe('ClaimRequestSchema', () => {
  it('takes a claim with the resources offered, holding nothing by default', () => {
    expect(ClaimRequestSchema.parse({ ...ref, resources: BIG_PILOT })).toEqual({
      ...ref,
      resources: BIG_PILOT,
      holds: [],
    });
  });

  it('takes the report of the attempt just ended with the claim, and names its bad fields', () => {
    const parsed = ClaimRequestSchema.parse({
      ...ref,
      jobIndex: 1,
      resources: BIG_PILOT,
      report: { ...ref, pilotErrorCode: 0, usage },
    });
    expect(parsed.report).toMatchObject({ ...ref, outputs: [] });
    const bad = ClaimRequestSchema.safeParse({ ...ref, resources: BIG_PILOT, report: { ...ref, usage } });
    expect(bad.error?.issues.map((i) => i.path.join('.'))).toEqual(['report.pilotErrorCode']);
  });

  it('refuses an unknown field and more than 64 holds', () => {
    expect(ClaimRequestSchema.safeParse({ ...ref, resources: BIG_PILOT, lease: 1 }).success).toBe(false);
    const holds = Array.from({ length: 65 }, (_, jobIndex) => ({ ...ref, jobIndex }));
    expect(ClaimRequestSchema.safeParse({ ...ref, resources: BIG_PILOT, holds }).success).toBe(false);
  });
});

describe('CompleteRequestSchema', () => {
  it('is a report with the attempts the pilot still holds', () => {
    expect(
      CompleteRequestSchema.parse({ ...ref, pilotErrorCode: 0, usage, holds: [{ ...ref, jobIndex: 1 }] })
        .holds,
    ).toEqual([{ ...ref, jobIndex: 1 }]);
  });
});

describe('ClaimResponseSchema', () => {
  it.each(['claimed', 'stale', 'cancelled', 'unfit'])('knows the outcome %s', (outcome) => {
    expect(ClaimResponseSchema.safeParse({ outcome }).success).toBe(true);
  });

  it('knows no other outcome', () => {
    expect(ClaimResponseSchema.safeParse({ outcome: 'starting' }).success).toBe(false);
  });
});
