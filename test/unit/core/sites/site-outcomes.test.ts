import { describe, expect, it } from 'vitest';
import type { Attempt, JobRecord } from '#core/jobs/job.ts';
import { PILOT_ERROR_CODES, type PilotErrorCode } from '#core/pilots/pilot-error-codes.ts';
import {
  attemptEndOf,
  bookOutcomes,
  bookUnhealthyPilot,
  bucketOf,
  emptyOutcomeBook,
  emptyOutcomes,
  infraFailures,
  type OutcomeEntry,
  type OutcomeKind,
  outcomeEntriesOf,
  outcomeOf,
  outcomesFrom,
  PILOTS_REMEMBERED_MAX,
  restartOutcomes,
  totalOutcomes,
} from '#core/sites/site-outcomes.ts';

const T0 = '2026-01-01T10:00:00.000Z';
const T1 = '2026-01-01T10:07:30.000Z';
const KEEP_ALL = '2026-01-01T00:00:00.000Z';

describe('outcomeOf', () => {
  it.each<[PilotErrorCode, OutcomeKind | undefined]>([
    [PILOT_ERROR_CODES.OK, 'finished'],
    [PILOT_ERROR_CODES.PAYLOAD_FAILED, 'userFailed'],
    [PILOT_ERROR_CODES.MEMORY_EXCEEDED, 'userFailed'],
    [PILOT_ERROR_CODES.WALLTIME_EXCEEDED, 'userFailed'],
    [PILOT_ERROR_CODES.STAGE_OUT_FAILED, 'userFailed'],
    [PILOT_ERROR_CODES.STAGE_IN_FAILED, 'stageIn'],
    [PILOT_ERROR_CODES.PILOT_LOST, 'pilotLost'],
    [PILOT_ERROR_CODES.CLAIM_ABANDONED, 'claimAbandoned'],
    [PILOT_ERROR_CODES.WORKDIR_FAILED, 'workdir'],
    [PILOT_ERROR_CODES.EVICTED, undefined],
    [PILOT_ERROR_CODES.LEASE_LOST, undefined],
    [PILOT_ERROR_CODES.CONSUMER_STOPPED, undefined],
    [PILOT_ERROR_CODES.CANCELLED, undefined],
  ])('counts code %i as %s', (code, kind) => {
    expect(outcomeOf(code)).toBe(kind);
  });
});

describe('counts', () => {
  it('adds the infrastructure kinds (node checks included) apart from all', () => {
    const counts = {
      ...emptyOutcomes(),
      finished: 3,
      userFailed: 2,
      stageIn: 1,
      nodeChecks: 4,
      pilotLost: 1,
    };
    expect(infraFailures(counts)).toBe(6);
    expect(totalOutcomes(counts)).toBe(11);
  });

  it('sums the buckets that start at or after a time', () => {
    const buckets = {
      '2026-01-01T09:55:00.000Z': { stageIn: 5 },
      '2026-01-01T10:00:00.000Z': { finished: 1, stageIn: 1 },
      '2026-01-01T10:05:00.000Z': { finished: 2 },
    };
    expect(outcomesFrom({ buckets }, T0)).toEqual({ ...emptyOutcomes(), finished: 3, stageIn: 1 });
    expect(outcomesFrom(undefined, T0)).toEqual(emptyOutcomes());
  });

  it.each([
    [T0, T0],
    [T1, '2026-01-01T10:05:00.000Z'],
    ['2026-01-01T10:04:59.999Z', T0],
  ])('puts %s in the bucket of %s (5 min)', (at, bucket) => {
    expect(bucketOf(at)).toBe(bucket);
  });
});

const ENDED: Attempt = {
  attempt: 1,
  pilotId: 'p-000001',
  siteId: 'cern',
  state: 'failed',
  startedAt: T0,
  endedAt: T1,
  pilotErrorCode: PILOT_ERROR_CODES.STAGE_IN_FAILED,
};
const RUNNING: JobRecord = {
  taskId: 't-000001',
  jobIndex: 0,
  state: 'running',
  attempt: 1,
  failures: 0,
  siteId: 'cern',
  pilotId: 'p-000001',
  startedAt: T0,
  updatedAt: T0,
};

describe('attemptEndOf', () => {
  it.each([
    {
      why: 'a retried attempt, from the ended attempt it carries',
      before: RUNNING,
      after: { ...RUNNING, state: 'queued', attempt: 2, pilotId: undefined, ended: ENDED },
      end: { siteId: 'cern', at: T1, code: PILOT_ERROR_CODES.STAGE_IN_FAILED },
    },
    {
      why: 'the last attempt of a job that became final',
      before: RUNNING,
      after: { ...RUNNING, state: 'finished', endedAt: T1, pilotErrorCode: PILOT_ERROR_CODES.OK },
      end: { siteId: 'cern', at: T1, code: PILOT_ERROR_CODES.OK },
    },
    {
      why: 'nothing for a claim',
      before: undefined,
      after: RUNNING,
      end: undefined,
    },
    {
      why: 'nothing for a queued record changed again, its ended attempt already seen',
      before: { ...RUNNING, state: 'queued', attempt: 2, ended: ENDED },
      after: { ...RUNNING, state: 'queued', attempt: 2, ended: ENDED, resources: { memoryMB: 3000 } },
      end: undefined,
    },
    {
      why: 'nothing for a job cancelled before any pilot ran it',
      before: undefined,
      after: {
        ...RUNNING,
        state: 'cancelled',
        pilotId: undefined,
        pilotErrorCode: PILOT_ERROR_CODES.CANCELLED,
      },
      end: undefined,
    },
    {
      why: 'nothing for a final record written again',
      before: { ...RUNNING, state: 'failed', pilotErrorCode: PILOT_ERROR_CODES.STAGE_IN_FAILED },
      after: { ...RUNNING, state: 'failed', pilotErrorCode: PILOT_ERROR_CODES.STAGE_IN_FAILED, host: 'x' },
      end: undefined,
    },
  ] as Array<{ why: string; before?: JobRecord; after?: JobRecord; end: unknown }>)(
    'sees $why',
    ({ before, after, end }) => {
      expect(
        attemptEndOf({ feed: 'f', seq: '1', ...(before ? { before } : {}), ...(after ? { after } : {}) }),
      ).toEqual(end);
    },
  );

  it('groups the counted ends of a batch by site and feed, leaving out uncounted and too old ones', () => {
    const failed = { ...RUNNING, state: 'queued' as const, attempt: 2, ended: ENDED };
    const atDesy = { ...failed, siteId: 'desy', ended: { ...ENDED, siteId: 'desy' } };
    const evicted = { ...failed, ended: { ...ENDED, pilotErrorCode: PILOT_ERROR_CODES.EVICTED } };
    const old = { ...failed, ended: { ...ENDED, endedAt: '2026-01-01T07:00:00.000Z' } };
    const groups = outcomeEntriesOf(
      [
        { feed: 'a', seq: '1', before: RUNNING, after: failed },
        { feed: 'b', seq: '2', before: RUNNING, after: failed },
        { feed: 'a', seq: '3', before: RUNNING, after: atDesy },
        { feed: 'a', seq: '4', before: RUNNING, after: evicted },
        { feed: 'a', seq: '5', before: RUNNING, after: old },
      ],
      '2026-01-01T08:00:00.000Z',
    );
    const entry = (seq: string) => ({ seq, at: T1, bucket: bucketOf(T1), kind: 'stageIn' });
    expect([...groups.values()]).toEqual([
      { siteId: 'cern', feed: 'a', entries: [entry('1')] },
      { siteId: 'cern', feed: 'b', entries: [entry('2')] },
      { siteId: 'desy', feed: 'a', entries: [entry('3')] },
    ]);
  });
});

describe('the outcome book', () => {
  const entry = (seq: string, kind: OutcomeKind = 'stageIn', at = T1): OutcomeEntry => ({
    seq,
    at,
    bucket: bucketOf(at),
    kind,
  });
  const options = { at: T1, keepFrom: KEEP_ALL };

  it('counts each entry of a feed once, whatever the redeliveries, and each feed by its own seq', () => {
    let book = bookOutcomes(emptyOutcomeBook(), 'a', [entry('9'), entry('10', 'finished')], options);
    expect(book?.buckets).toEqual({ [bucketOf(T1)]: { stageIn: 1, finished: 1 } });
    expect(
      bookOutcomes(book ?? emptyOutcomeBook(), 'a', [entry('9'), entry('10', 'finished')], options),
    ).toBe(undefined);
    book = bookOutcomes(book ?? emptyOutcomeBook(), 'a', [entry('10'), entry('11')], options);
    book = bookOutcomes(book ?? emptyOutcomeBook(), 'b', [entry('1')], options);
    expect(book?.buckets).toEqual({ [bucketOf(T1)]: { stageIn: 3, finished: 1 } });
    expect(book?.feeds).toEqual({ a: { lastSeq: '11', at: T1 }, b: { lastSeq: '1', at: T1 } });
  });

  it('compares sequence numbers as numbers, not as text', () => {
    const book = bookOutcomes(emptyOutcomeBook(), 'a', [entry('99')], options);
    expect(bookOutcomes(book ?? emptyOutcomeBook(), 'a', [entry('100')], options)?.feeds.a?.lastSeq).toBe(
      '100',
    );
  });

  it('drops ends before the last status change, and forgets buckets, feeds and pilots older than kept', () => {
    const restarted = restartOutcomes(
      bookOutcomes(emptyOutcomeBook(), 'a', [entry('1', 'stageIn', T0)], options) ?? emptyOutcomeBook(),
      '2026-01-01T10:06:00.000Z',
    );
    expect(restarted.buckets).toEqual({});
    expect(restarted.feeds.a?.lastSeq).toBe('1');
    const next = bookOutcomes(restarted, 'a', [entry('2', 'stageIn', T0), entry('3')], options);
    expect(next?.buckets).toEqual({ [bucketOf(T1)]: { stageIn: 1 } });

    const later = bookOutcomes(
      next ?? emptyOutcomeBook(),
      'b',
      [entry('1', 'finished', '2026-01-01T13:00:00.000Z')],
      {
        at: '2026-01-01T13:00:00.000Z',
        keepFrom: '2026-01-01T11:00:00.000Z',
      },
    );
    expect(later?.buckets).toEqual({ '2026-01-01T13:00:00.000Z': { finished: 1 } });
    expect(Object.keys(later?.feeds ?? {})).toEqual(['b']);
  });

  it('counts an unhealthy pilot once, and pilots past those remembered still count', () => {
    const at = { at: T1, bucket: bucketOf(T1) };
    const book = bookUnhealthyPilot(emptyOutcomeBook(), 'p-1', at, { keepFrom: KEEP_ALL });
    expect(book?.buckets).toEqual({ [bucketOf(T1)]: { nodeChecks: 1 } });
    expect(bookUnhealthyPilot(book ?? emptyOutcomeBook(), 'p-1', at, { keepFrom: KEEP_ALL })).toBeUndefined();

    const full = {
      ...emptyOutcomeBook(),
      pilots: Object.fromEntries(
        Array.from({ length: PILOTS_REMEMBERED_MAX }, (_, i) => [`p-x${i}`, bucketOf(T1)]),
      ),
    };
    const past = bookUnhealthyPilot(full, 'p-2', at, { keepFrom: KEEP_ALL });
    expect(past?.buckets[bucketOf(T1)]).toEqual({ nodeChecks: 1 });
    expect(Object.keys(past?.pilots ?? {})).toHaveLength(PILOTS_REMEMBERED_MAX);
  });
});
