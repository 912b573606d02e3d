import { describe, expect, it } from 'vitest';
import {
  addCounters,
  allJobsFinal,
  counterDelta,
  deriveJobCounts,
  emptyJobCounters,
  emptyJobCounts,
  isEmptyDelta,
  type JobCounters,
  type JobCounts,
} from '#core/jobs/job-counts.ts';

function counters(fields: Partial<JobCounters>): JobCounters {
  return { ...emptyJobCounters(), ...fields };
}

function counts(fields: Partial<JobCounts>): JobCounts {
  return { ...emptyJobCounts(), ...fields };
}

describe('counterDelta', () => {
  it('counts a new record (a first claim) as recorded and in its state', () => {
    expect(counterDelta(undefined, { state: 'running' })).toEqual({ recorded: 1, running: 1 });
  });

  it('counts a record created queued (a claim abandoned before it landed) as recorded and queued', () => {
    expect(counterDelta(undefined, { state: 'queued' })).toEqual({ recorded: 1, queued: 1 });
  });

  it('moves one job from the old state to the new one', () => {
    expect(counterDelta({ state: 'running' }, { state: 'finished' })).toEqual({ running: -1, finished: 1 });
    expect(counterDelta({ state: 'running' }, { state: 'queued' })).toEqual({ running: -1, queued: 1 });
    expect(counterDelta({ state: 'queued' }, { state: 'running' })).toEqual({ queued: -1, running: 1 });
  });

  it.each([
    ['failed', { failed: -1, queued: 1, resubmitted: 1 }],
    ['cancelled', { cancelled: -1, queued: 1, resubmitted: 1 }],
    ['finished', { finished: -1, queued: 1, resubmitted: 1 }],
  ] as const)(
    'counts a %s job queued again (a resubmit) once as queued and once as resubmitted',
    (from, delta) => {
      expect(counterDelta({ state: from }, { state: 'queued' })).toEqual(delta);
      // Applied once per change, the counters move the job and nothing else.
      const applied = addCounters(
        counters({ recorded: 3, [from]: 2, running: 1 }),
        counterDelta({ state: from }, { state: 'queued' }),
      );
      expect(applied).toEqual(counters({ recorded: 3, [from]: 1, running: 1, queued: 1, resubmitted: 1 }));
    },
  );

  it.each([
    ['running', 'queued'],
    ['queued', 'running'],
    ['running', 'failed'],
    ['queued', 'cancelled'],
  ] as const)('counts no resubmit for %s → %s (retries, claims and ends)', (from, to) => {
    expect(counterDelta({ state: from }, { state: to }).resubmitted).toBeUndefined();
  });

  it('uncounts a removed record', () => {
    expect(counterDelta({ state: 'failed' }, undefined)).toEqual({ recorded: -1, failed: -1 });
  });

  it('is empty when the state does not change (a new attempt queued after an abandoned one)', () => {
    const delta = counterDelta({ state: 'queued' }, { state: 'queued' });
    expect(delta).toEqual({});
    expect(isEmptyDelta(delta)).toBe(true);
    expect(isEmptyDelta(counterDelta(undefined, undefined))).toBe(true);
  });
});

describe('addCounters', () => {
  it('adds a delta into the counters and returns them', () => {
    const into = counters({ recorded: 2, running: 2 });
    expect(addCounters(into, { running: -1, finished: 1 })).toBe(into);
    expect(into).toEqual(counters({ recorded: 2, running: 1, finished: 1 }));
  });
});

describe('isEmptyDelta', () => {
  it('is false when any counter moves', () => {
    expect(isEmptyDelta({ cancelled: 1 })).toBe(false);
    expect(isEmptyDelta({ recorded: 0, queued: 0 })).toBe(true);
  });
});

describe('deriveJobCounts', () => {
  const task = { jobCount: 10, jobsEnqueued: 6, cancelRequested: false };

  it('counts jobs not enqueued as defined and enqueued jobs without a record as queued', () => {
    expect(deriveJobCounts(task, emptyJobCounters())).toEqual(counts({ defined: 4, queued: 6 }));
  });

  it('adds the recorded states to what has no record', () => {
    const recorded = counters({ recorded: 4, queued: 1, running: 1, finished: 1, failed: 1 });
    expect(deriveJobCounts(task, recorded)).toEqual(
      counts({ defined: 4, queued: 2 + 1, running: 1, finished: 1, failed: 1 }),
    );
  });

  it('always sums to the job count', () => {
    const recorded = counters({ recorded: 6, running: 2, finished: 3, cancelled: 1 });
    const derived = deriveJobCounts(task, recorded);
    expect(Object.values(derived).reduce((a, b) => a + b, 0)).toBe(10);
  });

  it('counts queued and never enqueued jobs as cancelled once the task is cancelled, keeping the running', () => {
    const recorded = counters({ recorded: 3, queued: 1, running: 1, finished: 1 });
    expect(deriveJobCounts({ ...task, cancelRequested: true }, recorded)).toEqual(
      counts({ running: 1, finished: 1, cancelled: 4 + 3 + 1 }),
    );
  });

  it('counts no queued job without a record when a claim came before the enqueue progress was recorded', () => {
    const derived = deriveJobCounts(
      { jobCount: 2, jobsEnqueued: 1, cancelRequested: false },
      counters({ recorded: 2, running: 2 }),
    );
    expect(derived.queued).toBe(0);
    expect(derived.running).toBe(2);
  });
});

describe('deriveJobCounts after a resubmit', () => {
  const task = { jobCount: 4, jobsEnqueued: 4, cancelRequested: false };
  const ended = counters({ recorded: 4, finished: 2, failed: 1, cancelled: 1 });

  it.each([
    ['none counted yet: both taken from failed, then cancelled', 0, counts({ finished: 2, queued: 2 })],
    ['one counted: the other still shown queued', 1, counts({ finished: 2, queued: 2 })],
    ['both counted: the counters alone', 2, counts({ finished: 2, queued: 2 })],
  ])('counts jobs a resubmit queued as queued until the feed counted them (%s)', (_, counted, expected) => {
    // The feed moved `counted` of the two resubmitted jobs (one failed, one cancelled) so far.
    const moved = [
      { failed: -1, queued: 1, resubmitted: 1 },
      { cancelled: -1, queued: 1, resubmitted: 1 },
    ].slice(0, counted);
    const current = moved.reduce((c, delta) => addCounters(c, delta), { ...ended });
    const derived = deriveJobCounts({ ...task, jobsResubmitted: 2 }, current);
    expect(derived).toEqual(expected);
    expect(allJobsFinal(task, derived)).toBe(false);
  });

  it('takes uncounted jobs from the final states in order failed, cancelled, finished, never below zero', () => {
    const derived = deriveJobCounts({ ...task, jobsResubmitted: 3 }, ended);
    expect(derived).toEqual(counts({ finished: 1, queued: 3 }));
    expect(Object.values(derived).reduce((a, b) => a + b, 0)).toBe(4);
  });

  it('lets the task end once the resubmitted jobs ended again and were counted', () => {
    const again = counters({ recorded: 4, finished: 4, resubmitted: 2 });
    const derived = deriveJobCounts({ ...task, jobsResubmitted: 2 }, again);
    expect(derived).toEqual(counts({ finished: 4 }));
    expect(allJobsFinal(task, derived)).toBe(true);
  });
});

describe('allJobsFinal', () => {
  const task = { jobCount: 3, cancelRequested: false };

  it('holds when every job finished, failed or was cancelled', () => {
    expect(allJobsFinal(task, counts({ finished: 1, failed: 1, cancelled: 1 }))).toBe(true);
  });

  it('does not hold while a job is queued, running or not enqueued', () => {
    expect(allJobsFinal(task, counts({ finished: 2, queued: 1 }))).toBe(false);
    expect(allJobsFinal(task, counts({ finished: 2, running: 1 }))).toBe(false);
    expect(allJobsFinal(task, counts({ finished: 2, defined: 1 }))).toBe(false);
  });

  it('holds for a cancelled task once no job runs, whatever else is left', () => {
    const cancelled = { ...task, cancelRequested: true };
    expect(allJobsFinal(cancelled, counts({ running: 1, cancelled: 2 }))).toBe(false);
    expect(allJobsFinal(cancelled, counts({ finished: 1, cancelled: 2 }))).toBe(true);
  });
});
