import { describe, expect, it } from 'vitest';
import {
  heartbeatAnswer,
  isLeaseExpired,
  killEntriesOf,
  leaseExpiry,
  recoveryBoundSec,
} from '#core/pilots/lease.ts';
import type { PilotLease } from '#core/pilots/pilot.ts';

const job0 = { taskId: 't-000001', jobIndex: 0, attempt: 1 };
const job1 = { taskId: 't-000001', jobIndex: 1, attempt: 2 };

function lease(fields: Partial<PilotLease> = {}): PilotLease {
  return {
    pilotId: 'p-000001',
    siteId: 'cern',
    state: 'busy',
    expiresAt: 10_000,
    jobs: ['t-000001.0.1', 't-000001.1.2'],
    kill: [],
    jobsRun: 0,
    ...fields,
  };
}

describe('leaseExpiry and isLeaseExpired', () => {
  it('lets a lease run leaseSec from when it was taken or renewed', () => {
    expect(leaseExpiry(1_000, 120)).toBe(121_000);
  });

  it('expires a lease only once its expiry has passed', () => {
    expect(isLeaseExpired({ expiresAt: 5000 }, 4999)).toBe(false);
    expect(isLeaseExpired({ expiresAt: 5000 }, 5000)).toBe(false);
    expect(isLeaseExpired({ expiresAt: 5000 }, 5001)).toBe(true);
  });
});

describe('recoveryBoundSec', () => {
  it('bounds the wait of a vanished pilot jobs by the lease and one reaper period', () => {
    expect(recoveryBoundSec({ leaseSec: 30 }, 3)).toBe(33);
  });
});

describe('killEntriesOf', () => {
  it('names every kill entry that may exist for an attempt', () => {
    expect(killEntriesOf(job1)).toEqual(['t-000001.1.2|cancelled', 't-000001.1.2|lease-lost']);
  });
});

describe('heartbeatAnswer', () => {
  it('tells the pilot to go on with every job it holds when nothing asks to kill one', () => {
    expect(heartbeatAnswer(lease(), [job0, job1])).toEqual({
      pilot: 'live',
      jobs: [
        { ...job0, action: 'continue' },
        { ...job1, action: 'continue' },
      ],
      unknown: [],
    });
  });

  it('tells the pilot to kill a job of a cancelled task, and why', () => {
    const answer = heartbeatAnswer(lease({ kill: ['t-000001.1.2|cancelled'] }), [job0, job1]);
    expect(answer).toMatchObject({
      pilot: 'live',
      jobs: [{ action: 'continue' }, { action: 'kill-cancelled' }],
    });
  });

  it('tells the pilot to kill a job whose lease was lost', () => {
    const answer = heartbeatAnswer(lease({ kill: ['t-000001.0.1|lease-lost'] }), [job0]);
    expect(answer).toMatchObject({ jobs: [{ ...job0, action: 'kill-lease-lost' }] });
  });

  it('does not kill another attempt of the same job', () => {
    const answer = heartbeatAnswer(lease({ kill: ['t-000001.1.1|cancelled'] }), [job1]);
    expect(answer).toMatchObject({ jobs: [{ action: 'continue' }] });
  });

  it('names the attempts the lease lists that the pilot does not know it holds (a claim whose answer was lost)', () => {
    expect(heartbeatAnswer(lease(), [job0])).toMatchObject({ pilot: 'live', unknown: [job1] });
  });

  it('ignores lease entries that are no attempt keys', () => {
    expect(heartbeatAnswer(lease({ jobs: ['garbage', 't-000001.0.1'] }), [])).toMatchObject({
      unknown: [job0],
    });
  });

  it.each(['lost', 'exited'] as const)('says the pilot is gone when its lease is %s', (state) => {
    expect(heartbeatAnswer(lease({ state }), [job0])).toEqual({ pilot: 'gone' });
  });

  it('says the pilot is gone when it has no lease any more', () => {
    expect(heartbeatAnswer(undefined, [job0])).toEqual({ pilot: 'gone' });
  });
});
