import { describe, expect, it } from 'vitest';
import type { Attempt, JobRecord } from '#core/jobs/job.ts';
import { jobChangeFacts } from '#core/jobs/job-change-facts.ts';
import type { JobRecordChange } from '#core/jobs/ports.ts';

const record = (state: JobRecord['state'], attempt: number, ended?: Partial<Attempt>): JobRecord =>
  ({
    taskId: 't-abcdefgh',
    jobIndex: 0,
    state,
    attempt,
    failures: 0,
    ...(ended === undefined
      ? {}
      : {
          ended: {
            attempt: attempt,
            pilotId: 'p-12345678',
            siteId: 'cern',
            state: 'finished',
            startedAt: '2026-01-01T00:00:00Z',
            endedAt: '2026-01-01T00:01:00Z',
            pilotErrorCode: 0,
            ...ended,
          },
        }),
  }) as JobRecord;

const change = (before: JobRecord | undefined, after: JobRecord | undefined): JobRecordChange => ({
  feed: 'f',
  seq: '1',
  ...(before === undefined ? {} : { before }),
  ...(after === undefined ? {} : { after }),
});

describe('jobChangeFacts', () => {
  it.each([
    [
      'a first claim starts an attempt',
      [change(undefined, record('running', 1))],
      { started: 1, ended: {}, retried: {} },
    ],
    [
      'a heartbeat-free rewrite of a running attempt starts nothing',
      [change(record('running', 1), record('running', 1))],
      { started: 0, ended: {}, retried: {} },
    ],
    [
      'a retry claimed starts a new attempt',
      [
        change(
          record('queued', 2, { attempt: 1, state: 'failed' }),
          record('running', 2, { attempt: 1, state: 'failed' }),
        ),
      ],
      { started: 1, ended: {}, retried: {} },
    ],
    [
      'a finished attempt ends with outcome finished',
      [change(record('running', 1), record('finished', 1, { state: 'finished' }))],
      { started: 0, ended: { finished: 1 }, retried: {} },
    ],
    [
      'a failed attempt queued again is a retry by its error code',
      [
        change(record('running', 1), {
          ...record('queued', 2),
          ended: record('failed', 1, { state: 'failed', pilotErrorCode: 1001 }).ended,
        } as JobRecord),
      ],
      { started: 0, ended: { failed: 1 }, retried: { '1001': 1 } },
    ],
    [
      "the reaper's lost attempt",
      [
        change(record('running', 1), {
          ...record('queued', 2),
          ended: record('failed', 1, { state: 'lost', pilotErrorCode: 1304 }).ended,
        } as JobRecord),
      ],
      { started: 0, ended: { lost: 1 }, retried: { '1304': 1 } },
    ],
    [
      'a later write of an ended attempt counts it no more',
      [change(record('finished', 1, {}), record('finished', 1, {}))],
      { started: 0, ended: {}, retried: {} },
    ],
    [
      'a deleted record',
      [change(record('finished', 1, {}), undefined)],
      { started: 0, ended: {}, retried: {} },
    ],
  ])('%s', (_what, changes, expected) => {
    expect(jobChangeFacts(changes)).toEqual(expected);
  });
});
