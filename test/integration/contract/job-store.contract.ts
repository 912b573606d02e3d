/**
 * The JobStore contract (core/jobs/ports.ts), written once and run against every implementation:
 * the in-memory fake the unit tests use and the DynamoDB adapter production uses.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Attempt, JobRecord } from '#core/jobs/job.ts';
import type { JobChange, JobStore } from '#core/jobs/ports.ts';
import { newTaskId, runningRecord } from '../adapters/fixtures.ts';

const ENDED_AT = '2026-11-25T10:05:00.000Z';

function attempt(n: number, overrides: Partial<Attempt> = {}): Attempt {
  return {
    attempt: n,
    pilotId: `p-pilot${n}`,
    siteId: 'site-a',
    host: 'wn01',
    state: 'failed',
    startedAt: '2026-11-25T10:00:00.000Z',
    endedAt: ENDED_AT,
    pilotErrorCode: 1001,
    exitCode: 3,
    errorMessage: 'exit 3',
    usage: { wallTimeSec: 300, cpuTimeSec: 290, maxRssKB: 1024 },
    ...overrides,
  };
}

const FINISH: JobChange = { set: { state: 'finished', exitCode: 0, endedAt: ENDED_AT, updatedAt: ENDED_AT } };

/**
 * `makeStore` gives a new, empty store. The tests share one: each works on task ids of its own.
 */
export function describeJobStoreContract(name: string, makeStore: () => Promise<JobStore>): void {
  describe(`${name} (JobStore contract)`, () => {
    let store: JobStore;
    beforeAll(async () => {
      store = await makeStore();
    });

    /** A job with a running record (attempt 1, pilot p-aaaaaa, site-a); its key and record. */
    async function runningJob(
      jobIndex = 0,
    ): Promise<{ key: { taskId: string; jobIndex: number }; record: JobRecord }> {
      const key = { taskId: newTaskId(), jobIndex };
      expect(await store.update(key, { set: runningRecord() }, ['absent'])).toBe('ok');
      return { key, record: { ...key, ...runningRecord() } };
    }

    describe('fenced writes', () => {
      it('has no record of a job never claimed', async () => {
        expect(await store.get(newTaskId(), 0)).toBeUndefined();
      });

      it('creates a record when none is expected, and answers conflict to a second creation, keeping the first', async () => {
        const key = { taskId: newTaskId(), jobIndex: 3 };
        expect(await store.update(key, { set: runningRecord() }, ['absent'])).toBe('ok');
        expect(await store.get(key.taskId, 3)).toEqual({ ...key, ...runningRecord() });

        const again = await store.update(key, { set: runningRecord({ pilotId: 'p-bbbbbb' }) }, ['absent']);
        expect(again).toBe('conflict');
        expect(await store.get(key.taskId, 3)).toEqual({ ...key, ...runningRecord() });
      });

      it('answers conflict, writing nothing, unless the record is in the expected state at the expected attempt', async () => {
        const { key, record } = await runningJob();
        expect(await store.update(key, FINISH, [{ state: 'queued', attempt: 1 }])).toBe('conflict');
        expect(await store.update(key, FINISH, [{ state: 'running', attempt: 2 }])).toBe('conflict');
        expect(await store.update(key, FINISH, ['absent'])).toBe('conflict');
        expect(await store.get(key.taskId, key.jobIndex)).toEqual(record);

        expect(await store.update(key, FINISH, [{ state: 'running', attempt: 1 }])).toBe('ok');
        expect(await store.get(key.taskId, key.jobIndex)).toEqual({ ...record, ...FINISH.set });
      });

      it('fences on the pilot and on the site when the expectation names them', async () => {
        const { key, record } = await runningJob();
        const running = { state: 'running' as const, attempt: 1 };
        expect(await store.update(key, FINISH, [{ ...running, pilotId: 'p-bbbbbb' }])).toBe('conflict');
        expect(await store.update(key, FINISH, [{ ...running, siteId: 'site-b' }])).toBe('conflict');
        expect(await store.update(key, FINISH, [{ ...running, pilotId: 'p-aaaaaa', siteId: 'site-b' }])).toBe(
          'conflict',
        );
        expect(await store.get(key.taskId, key.jobIndex)).toEqual(record);

        expect(await store.update(key, FINISH, [{ ...running, pilotId: 'p-aaaaaa', siteId: 'site-a' }])).toBe(
          'ok',
        );
        expect((await store.get(key.taskId, key.jobIndex))?.state).toBe('finished');
      });

      it('answers conflict to a write expecting a record that does not exist, creating none', async () => {
        const key = { taskId: newTaskId(), jobIndex: 0 };
        expect(await store.update(key, FINISH, [{ state: 'running', attempt: 1 }])).toBe('conflict');
        expect(await store.get(key.taskId, 0)).toBeUndefined();
      });

      it('writes when any one of several expectations holds, and not when none does', async () => {
        const key = { taskId: newTaskId(), jobIndex: 0 };
        const firstClaim = ['absent', { state: 'queued', attempt: 1 }] as const;
        expect(await store.update(key, { set: runningRecord() }, [...firstClaim])).toBe('ok');
        expect(
          await store.update(key, { set: runningRecord({ pilotId: 'p-bbbbbb' }) }, [...firstClaim]),
        ).toBe('conflict');
        expect((await store.get(key.taskId, 0))?.pilotId).toBe('p-aaaaaa');
        expect(
          await store.update(key, FINISH, [
            { state: 'queued', attempt: 1 },
            { state: 'running', attempt: 1 },
          ]),
        ).toBe('ok');
        expect((await store.get(key.taskId, 0))?.state).toBe('finished');
      });

      it('sets and removes fields in one write; a field both set and removed is set, one set to undefined is left as it was', async () => {
        const { key, record } = await runningJob();
        const change: JobChange = {
          set: { state: 'queued', attempt: 2, queuedAt: ENDED_AT, host: 'wn02', exitCode: undefined },
          remove: ['pilotId', 'startedAt', 'host'],
        };
        expect(await store.update(key, change, [{ state: 'running', attempt: 1 }])).toBe('ok');
        const { pilotId: _p, startedAt: _s, ...kept } = record;
        expect(await store.get(key.taskId, key.jobIndex)).toEqual({
          ...kept,
          state: 'queued',
          attempt: 2,
          queuedAt: ENDED_AT,
          host: 'wn02',
        });
      });

      it('gives a job to exactly one of ten claims written at once', async () => {
        const key = { taskId: newTaskId(), jobIndex: 0 };
        const outcomes = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            store.update(key, { set: runningRecord({ pilotId: `p-claim${i}` }) }, ['absent']),
          ),
        );
        expect(outcomes.filter((o) => o === 'ok')).toHaveLength(1);
        const winner = outcomes.indexOf('ok');
        expect((await store.get(key.taskId, 0))?.pilotId).toBe(`p-claim${winner}`);
      });
    });

    describe('listing', () => {
      /** A task whose jobs `indexes` have records; its id. */
      async function taskWithRecords(indexes: number[]): Promise<string> {
        const taskId = newTaskId();
        for (const jobIndex of indexes)
          expect(await store.update({ taskId, jobIndex }, { set: runningRecord() }, ['absent'])).toBe('ok');
        return taskId;
      }

      it("lists a task's records in index order from an index on, the gaps and other tasks left out", async () => {
        const taskId = await taskWithRecords([12, 2, 7, 30, 0]);
        await taskWithRecords([1, 3]);

        const all = await store.list(taskId, 0, 100);
        expect(all.records).toEqual(
          [0, 2, 7, 12, 30].map((jobIndex) => ({ taskId, jobIndex, ...runningRecord() })),
        );
        expect(all.more).toBe(false);

        const from = await store.list(taskId, 3, 100);
        expect(from).toEqual({
          records: [7, 12, 30].map((jobIndex) => ({ taskId, jobIndex, ...runningRecord() })),
          more: false,
        });
      });

      it('cuts a listing at the limit and says there is more; paging on from the last index lists every record once', async () => {
        const indexes = [0, 1, 4, 5, 9, 11, 20];
        const taskId = await taskWithRecords(indexes);
        const seen: number[] = [];
        let from = 0;
        for (let page = 0; page < 10; page++) {
          const { records, more } = await store.list(taskId, from, 3);
          expect(records.length).toBeLessThanOrEqual(3);
          seen.push(...records.map((r) => r.jobIndex));
          if (!more) break;
          expect(records).toHaveLength(3);
          from = (records.at(-1)?.jobIndex ?? from) + 1;
        }
        expect(seen).toEqual(indexes);
      });

      it('says there may be more when exactly the limit is left (the store cannot tell); the next listing is empty', async () => {
        const taskId = await taskWithRecords([0, 1, 2, 3]);
        const first = await store.list(taskId, 0, 2);
        expect(first.records.map((r) => r.jobIndex)).toEqual([0, 1]);
        expect(first.more).toBe(true);
        const second = await store.list(taskId, 2, 2);
        expect(second.records.map((r) => r.jobIndex)).toEqual([2, 3]);
        expect(second.more).toBe(true);
        expect(await store.list(taskId, 4, 2)).toEqual({ records: [], more: false });
      });

      it('lists nothing for a task without records', async () => {
        expect(await store.list(newTaskId(), 0, 10)).toEqual({ records: [], more: false });
      });
    });

    describe('archived attempts', () => {
      it("archives ended attempts and reads a job's back oldest first, apart from other jobs'", async () => {
        const taskId = newTaskId();
        await store.archiveAttempts([
          { taskId, jobIndex: 0, attempt: attempt(2, { state: 'lost', pilotErrorCode: 1304 }) },
          { taskId, jobIndex: 0, attempt: attempt(1) },
          { taskId, jobIndex: 1, attempt: attempt(1, { pilotId: 'p-other' }) },
        ]);
        await store.archiveAttempts([{ taskId, jobIndex: 0, attempt: attempt(3, { state: 'evicted' }) }]);

        expect(await store.attempts(taskId, 0)).toEqual([
          attempt(1),
          attempt(2, { state: 'lost', pilotErrorCode: 1304 }),
          attempt(3, { state: 'evicted' }),
        ]);
        expect(await store.attempts(taskId, 1)).toEqual([attempt(1, { pilotId: 'p-other' })]);
      });

      it('keeps an attempt archived again with the same content once (a replayed batch)', async () => {
        const taskId = newTaskId();
        const batch = [
          { taskId, jobIndex: 4, attempt: attempt(1) },
          { taskId, jobIndex: 4, attempt: attempt(2) },
        ];
        await store.archiveAttempts(batch);
        await store.archiveAttempts(batch);
        expect(await store.attempts(taskId, 4)).toEqual([attempt(1), attempt(2)]);
      });

      it('archives batches of any size, and nothing for an empty one', async () => {
        const taskId = newTaskId();
        const many = Array.from({ length: 60 }, (_, i) => ({
          taskId,
          jobIndex: i % 2,
          attempt: attempt(i + 1),
        }));
        await store.archiveAttempts(many);
        await store.archiveAttempts([]);
        expect((await store.attempts(taskId, 0)).map((a) => a.attempt)).toEqual(
          many.filter((a) => a.jobIndex === 0).map((a) => a.attempt.attempt),
        );
        expect(await store.attempts(taskId, 1)).toHaveLength(30);
      });

      it('has no attempts of a job that never ended one', async () => {
        expect(await store.attempts(newTaskId(), 0)).toEqual([]);
      });
    });
  });
}
