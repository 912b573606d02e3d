import { describe, expect, it } from 'vitest';
import {
  addDays,
  addToRollup,
  DaySchema,
  daysBetween,
  emptyRollup,
  rollupDeltaOf,
  rollupKeyOf,
  type UsageContext,
  usageKeyOf,
  usageRecordOf,
} from '#core/accounting/usage.ts';
import { attemptStateOf } from '#core/jobs/ended-attempt.ts';
import type { Attempt } from '#core/jobs/job.ts';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import { SiteSchema } from '#core/sites/site.ts';

const ATTEMPT: Attempt = {
  attempt: 2,
  pilotId: 'p-000001',
  siteId: 'cern',
  state: 'finished',
  startedAt: '2026-12-01T23:59:00.000Z',
  endedAt: '2026-12-02T00:01:00.000Z',
  pilotErrorCode: PILOT_ERROR_CODES.OK,
  exitCode: 0,
  usage: { wallTimeSec: 120.0004, cpuTimeSec: 100.1, maxRssKB: 204_801 },
};
const CONTEXT: UsageContext = { user: 'alice', group: 'atlas', resources: { cores: 4, memoryMB: 8000 } };

describe('usageRecordOf', () => {
  it('keeps who, where, what and how long, counted on the day the attempt ended', () => {
    expect(usageRecordOf('t-000001', 3, ATTEMPT, CONTEXT)).toEqual({
      taskId: 't-000001',
      jobIndex: 3,
      attempt: 2,
      day: '2026-12-02',
      user: 'alice',
      group: 'atlas',
      siteId: 'cern',
      resourceClass: 'mcore',
      cores: 4,
      state: 'finished',
      pilotErrorCode: 0,
      exitCode: 0,
      startedAt: ATTEMPT.startedAt,
      endedAt: ATTEMPT.endedAt,
      wallSec: 120,
      cpuSec: 100.1,
      coreSec: 480,
      maxRssMB: 201,
    });
  });

  it.each([
    // [case, attempt fields, context fields, expected fields]
    ['normalises CPU by the site factor', {}, { hs23PerCore: 12.5 }, { hs23Sec: 1251.25 }],
    [
      'takes the claim-to-end time as wall time when the pilot was lost (no usage)',
      { usage: undefined, state: 'lost', pilotErrorCode: PILOT_ERROR_CODES.PILOT_LOST },
      {},
      { wallSec: 120, cpuSec: 0, coreSec: 480, maxRssMB: 0, state: 'lost', pilotErrorCode: 1304 },
    ],
    [
      'classes a job by its resources (high memory per core)',
      {},
      { resources: { cores: 1, memoryMB: 4000 } },
      { resourceClass: 'himem', cores: 1, coreSec: 120 },
    ],
    ['classes a GPU job', {}, { resources: { cores: 1, memoryMB: 1000, gpus: 1 } }, { resourceClass: 'gpu' }],
  ] as const)('%s', (_, attemptFields, contextFields, expected) => {
    const record = usageRecordOf(
      't-000001',
      0,
      { ...ATTEMPT, ...attemptFields } as Attempt,
      { ...CONTEXT, ...contextFields } as UsageContext,
    );
    expect(record).toMatchObject(expected);
    if (!('hs23PerCore' in contextFields)) expect(record.hs23Sec).toBeUndefined();
  });

  it('names the record by its attempt, the same for every replay', () => {
    const record = usageRecordOf('t-000001', 3, ATTEMPT, CONTEXT);
    expect(usageKeyOf(record)).toBe('t-000001#3#2');
    expect(usageKeyOf(usageRecordOf('t-000001', 3, { ...ATTEMPT }, CONTEXT))).toBe(usageKeyOf(record));
  });
});

describe('roll-ups', () => {
  const record = usageRecordOf('t-000001', 3, ATTEMPT, { ...CONTEXT, hs23PerCore: 10 });

  it.each([
    ['user', 'alice'],
    ['group', 'atlas'],
    ['site', 'cern'],
  ] as const)('keys the %s roll-up by %s', (by, key) => {
    expect(rollupKeyOf(record, by)).toBe(key);
  });

  it.each([
    ['finished', 1, 0],
    ['failed', 0, 1],
    ['lost', 0, 1],
    ['evicted', 0, 1],
    ['abandoned', 0, 1],
    ['cancelled', 0, 0],
  ] as const)('counts a %s attempt as finished %i, failed %i', (state, finished, failed) => {
    expect(rollupDeltaOf({ ...record, state })).toMatchObject({ attempts: 1, finished, failed });
  });

  it('adds exactly to the millisecond and keeps the largest memory', () => {
    let row = emptyRollup('2026-12-02', 'alice');
    for (const wallSec of [0.1, 0.2, 0.3]) {
      row = addToRollup(row, { ...rollupDeltaOf(record), wallSec, maxRssMB: wallSec * 10 });
    }
    expect(row).toMatchObject({ attempts: 3, finished: 3, wallSec: 0.6, maxRssMB: 3, hs23Sec: 3003 });
    expect(addToRollup(emptyRollup('d', 'k'), rollupDeltaOf({ ...record, hs23Sec: undefined })).hs23Sec).toBe(
      undefined,
    );
  });
});

describe('days', () => {
  it.each([
    ['2026-12-02', true],
    ['2024-02-29', true],
    ['2026-02-29', false],
    ['2026-13-01', false],
    ['2026-1-01', false],
  ])('takes %s as a day: %s', (day, ok) => {
    expect(DaySchema.safeParse(day).success).toBe(ok);
  });

  it('counts and steps days across months and years', () => {
    expect(addDays('2026-12-31', 1)).toBe('2027-01-01');
    expect(addDays('2026-03-01', -1)).toBe('2026-02-28');
    expect(daysBetween('2026-12-02', '2026-12-02')).toBe(1);
    expect(daysBetween('2026-01-01', '2026-12-31')).toBe(365);
  });
});

describe('attemptStateOf', () => {
  it.each([
    [PILOT_ERROR_CODES.OK, 'finished'],
    [PILOT_ERROR_CODES.PAYLOAD_FAILED, 'failed'],
    [PILOT_ERROR_CODES.MEMORY_EXCEEDED, 'failed'],
    [PILOT_ERROR_CODES.EVICTED, 'evicted'],
    [PILOT_ERROR_CODES.PILOT_LOST, 'lost'],
    [PILOT_ERROR_CODES.CLAIM_ABANDONED, 'abandoned'],
    [PILOT_ERROR_CODES.CANCELLED, 'cancelled'],
  ] as const)('reads code %i as %s', (code, state) => {
    expect(attemptStateOf(code)).toBe(state);
  });
});

describe('site accounting factor', () => {
  it.each([
    [{ hs23PerCore: 11.2 }, true],
    [{ hs23PerCore: 0 }, false],
    [{ hs23PerCore: -1 }, false],
    [{ hs23PerCore: '10' }, false],
    [{ hs23perCore: 10 }, false],
  ])('takes accounting %j: %s', (accounting, ok) => {
    const result = SiteSchema.safeParse({ siteId: 'cern', accounting });
    expect(result.success).toBe(ok);
    if (!result.success) expect(result.error.issues[0]?.path[0]).toBe('accounting');
  });
});
