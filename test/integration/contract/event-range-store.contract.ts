/**
 * The EventRangeStore contract (core/event-ranges/ports.ts), written once and run against every
 * implementation: the in-memory fake the unit tests use and the DynamoDB adapter production uses.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { RangeRecord } from '#core/event-ranges/event-range.ts';
import type { EventRangeStore, RangeWrite } from '#core/event-ranges/ports.ts';
import { newTaskId } from '../adapters/fixtures.ts';

const AT = '2026-11-25T10:00:00.000Z';
const LATER = '2026-11-25T10:05:00.000Z';

/** Range `rangeIndex` of 100 events, running at attempt 1 in job 0 of pilot p-aaaaaa. */
function rangeRecord(taskId: string, rangeIndex: number, overrides: Partial<RangeRecord> = {}): RangeRecord {
  return {
    taskId,
    rangeIndex,
    firstEvent: rangeIndex * 100,
    nEvents: 100,
    state: 'running',
    attempt: 1,
    pilotId: 'p-aaaaaa',
    jobIndex: 0,
    updatedAt: AT,
    ...overrides,
  };
}

/** The record a finished report writes over a running one. */
function finished(record: RangeRecord): RangeRecord {
  return {
    ...record,
    state: 'finished',
    output: {
      key: `tasks/${record.taskId}/ranges/${record.rangeIndex}/out.root`,
      bytes: 4096,
      adler32: '0a1b2c3d',
    },
    wallTimeSec: 12.5,
    updatedAt: LATER,
  };
}

/**
 * `makeStore` gives a new, empty store. The tests share one: each works on task ids of its own.
 */
export function describeEventRangeStoreContract(
  name: string,
  makeStore: () => Promise<EventRangeStore>,
): void {
  describe(`${name} (EventRangeStore contract)`, () => {
    let store: EventRangeStore;
    beforeAll(async () => {
      store = await makeStore();
    });

    async function get(taskId: string, rangeIndex: number): Promise<RangeRecord | undefined> {
      return (await store.getMany(taskId, [rangeIndex]))[0];
    }

    /** A task whose ranges `indexes` have running records (or those of `make`); its id. */
    async function taskWithRecords(
      indexes: number[],
      make: (taskId: string, i: number) => RangeRecord = rangeRecord,
    ): Promise<string> {
      const taskId = newTaskId();
      const answers = await store.write(
        indexes.map((i) => ({ record: make(taskId, i), expected: ['absent'] })),
      );
      expect(answers.every((a) => a === 'ok')).toBe(true);
      return taskId;
    }

    describe('conditional writes', () => {
      it('creates a record when none is expected, and answers conflict to a second creation, keeping the first', async () => {
        const taskId = newTaskId();
        const first = rangeRecord(taskId, 3);
        expect(await store.write([{ record: first, expected: ['absent'] }])).toEqual(['ok']);
        expect(await get(taskId, 3)).toEqual(first);

        const other = rangeRecord(taskId, 3, { pilotId: 'p-bbbbbb', jobIndex: 1 });
        expect(await store.write([{ record: other, expected: ['absent'] }])).toEqual(['conflict']);
        expect(await get(taskId, 3)).toEqual(first);
      });

      it('writes over a record in the expected state at an attempt no later than expected, and not otherwise', async () => {
        const taskId = newTaskId();
        const running = rangeRecord(taskId, 0, { attempt: 2 });
        await store.write([{ record: running, expected: ['absent'] }]);
        const done = finished(running);

        for (const expected of [
          { state: 'failed' as const, attemptAtMost: 2 },
          { state: 'running' as const, attemptAtMost: 1 },
          'absent' as const,
        ]) {
          expect(
            await store.write([{ record: done, expected: [expected] }]),
            JSON.stringify(expected),
          ).toEqual(['conflict']);
        }
        expect(await get(taskId, 0)).toEqual(running);

        expect(
          await store.write([{ record: done, expected: [{ state: 'running', attemptAtMost: 2 }] }]),
        ).toEqual(['ok']);
        expect(await get(taskId, 0)).toEqual(done);

        // An earlier attempt than the bound also matches.
        const again = rangeRecord(taskId, 1, { attempt: 1 });
        await store.write([{ record: again, expected: ['absent'] }]);
        expect(
          await store.write([
            { record: finished(again), expected: [{ state: 'running', attemptAtMost: 3 }] },
          ]),
        ).toEqual(['ok']);
      });

      it('answers conflict to a write expecting a record that does not exist, creating none', async () => {
        const taskId = newTaskId();
        const record = finished(rangeRecord(taskId, 0));
        expect(await store.write([{ record, expected: [{ state: 'running', attemptAtMost: 5 }] }])).toEqual([
          'conflict',
        ]);
        expect(await get(taskId, 0)).toBeUndefined();
      });

      it('writes when any one of several expectations holds, and not when none does', async () => {
        const taskId = newTaskId();
        const expected: RangeWrite['expected'] = ['absent', { state: 'failed', attemptAtMost: 1 }];
        const running = rangeRecord(taskId, 0);
        expect(await store.write([{ record: running, expected }])).toEqual(['ok']);
        expect(await store.write([{ record: finished(running), expected }])).toEqual(['conflict']);

        const failed = rangeRecord(taskId, 0, { state: 'failed', errorCode: 1001, error: 'exit 3' });
        expect(
          await store.write([
            {
              record: failed,
              expected: [
                { state: 'finished', attemptAtMost: 1 },
                { state: 'running', attemptAtMost: 1 },
              ],
            },
          ]),
        ).toEqual(['ok']);
        const retry = rangeRecord(taskId, 0, { attempt: 2, pilotId: 'p-bbbbbb' });
        expect(await store.write([{ record: retry, expected }])).toEqual(['ok']);
        expect(await get(taskId, 0)).toEqual(retry);
      });

      it('replaces the whole record: fields the new record lacks are gone', async () => {
        const taskId = newTaskId();
        const failed = rangeRecord(taskId, 0, {
          state: 'failed',
          errorCode: 1001,
          error: 'exit 3',
          wallTimeSec: 3,
        });
        await store.write([{ record: failed, expected: ['absent'] }]);
        const { errorCode: _c, error: _e, wallTimeSec: _w, ...rest } = failed;
        const retry = { ...rest, state: 'running' as const, attempt: 2, updatedAt: LATER };
        expect(
          await store.write([{ record: retry, expected: [{ state: 'failed', attemptAtMost: 1 }] }]),
        ).toEqual(['ok']);
        expect(await get(taskId, 0)).toEqual(retry);
      });

      it('answers conflict to a replayed identical write (a report delivered twice), keeping the record', async () => {
        const taskId = newTaskId();
        const running = rangeRecord(taskId, 0);
        await store.write([{ record: running, expected: ['absent'] }]);
        const write: RangeWrite = {
          record: finished(running),
          expected: [{ state: 'running', attemptAtMost: 1 }],
        };
        expect(await store.write([write])).toEqual(['ok']);
        expect(await store.write([write])).toEqual(['conflict']);
        expect(await get(taskId, 0)).toEqual(finished(running));
      });

      it('answers each write of a call in the order given, each on its own record', async () => {
        const taskId = newTaskId();
        await store.write([0, 2, 4].map((i) => ({ record: rangeRecord(taskId, i), expected: ['absent'] })));
        // More writes than the adapter runs at once.
        const writes: RangeWrite[] = Array.from({ length: 40 }, (_, i) => ({
          record: finished(rangeRecord(taskId, i)),
          expected: i % 2 === 0 ? [{ state: 'running', attemptAtMost: 1 }] : ['absent'],
        }));
        const answers = await store.write(writes);
        expect(answers).toEqual(writes.map((_, i) => (i % 2 === 1 || i <= 4 ? 'ok' : 'conflict')));
        const stored = await store.getMany(
          taskId,
          writes.map((_, i) => i),
        );
        expect(stored.map((r) => r.rangeIndex)).toEqual(
          Array.from({ length: 40 }, (_, i) => i).filter((i) => i % 2 === 1 || i <= 4),
        );
        expect(stored.every((r) => r.state === 'finished')).toBe(true);
      });

      it('answers nothing to no writes', async () => {
        expect(await store.write([])).toEqual([]);
      });

      it('gives a range to exactly one of ten creations written at once', async () => {
        const taskId = newTaskId();
        const outcomes = (
          await Promise.all(
            Array.from({ length: 10 }, (_, i) =>
              store.write([
                { record: rangeRecord(taskId, 0, { pilotId: `p-claim${i}` }), expected: ['absent'] },
              ]),
            ),
          )
        ).flat();
        expect(outcomes.filter((o) => o === 'ok')).toHaveLength(1);
        expect((await get(taskId, 0))?.pilotId).toBe(`p-claim${outcomes.indexOf('ok')}`);
      });
    });

    describe('reading some ranges', () => {
      it('reads the records asked for in index order, leaving out absent ones, other tasks and repeats', async () => {
        const taskId = await taskWithRecords([5, 1, 8]);
        await taskWithRecords([2, 3]);
        expect(await store.getMany(taskId, [8, 2, 5, 3, 8, 0])).toEqual([
          rangeRecord(taskId, 5),
          rangeRecord(taskId, 8),
        ]);
        expect(await store.getMany(taskId, [])).toEqual([]);
        expect(await store.getMany(newTaskId(), [0, 1])).toEqual([]);
      });

      it('reads more ranges than one batch holds', async () => {
        const recorded = Array.from({ length: 130 }, (_, i) => i * 2);
        const taskId = await taskWithRecords(recorded);
        const asked = Array.from({ length: 250 }, (_, i) => i);
        const found = await store.getMany(taskId, asked);
        expect(found.map((r) => r.rangeIndex)).toEqual(recorded.filter((i) => i < 250));
      });
    });

    describe('listing', () => {
      it("lists a task's records in index order from an index on, the gaps and other tasks left out", async () => {
        const taskId = await taskWithRecords([12, 2, 7, 30, 0]);
        await taskWithRecords([1, 3]);
        expect(await store.list(taskId, 0, 100)).toEqual({
          records: [0, 2, 7, 12, 30].map((i) => rangeRecord(taskId, i)),
        });
        expect(await store.list(taskId, 3, 100)).toEqual({
          records: [7, 12, 30].map((i) => rangeRecord(taskId, i)),
        });
      });

      it('cuts a listing at the limit with the index the next one starts at; paging on lists every record once', async () => {
        const indexes = [0, 1, 4, 5, 9, 11, 20];
        const taskId = await taskWithRecords(indexes);
        const first = await store.list(taskId, 0, 3);
        expect(first.records.map((r) => r.rangeIndex)).toEqual([0, 1, 4]);
        expect(first.next).toBe(5);

        const seen: number[] = [];
        let from: number | undefined = 0;
        for (let page = 0; page < 10 && from !== undefined; page++) {
          const { records, next } = await store.list(taskId, from, 3);
          expect(records.length).toBeLessThanOrEqual(3);
          seen.push(...records.map((r) => r.rangeIndex));
          from = next;
        }
        expect(seen).toEqual(indexes);
      });

      it('gives no next index when the listing reaches the last record, even exactly at the limit', async () => {
        const taskId = await taskWithRecords([0, 1, 2, 3]);
        const first = await store.list(taskId, 0, 2);
        expect(first).toEqual({ records: [rangeRecord(taskId, 0), rangeRecord(taskId, 1)], next: 2 });
        expect(await store.list(taskId, 2, 2)).toEqual({
          records: [rangeRecord(taskId, 2), rangeRecord(taskId, 3)],
        });
        expect(await store.list(taskId, 4, 2)).toEqual({ records: [] });
      });

      it('lists only the records in a state when asked, paging past the others', async () => {
        const failedAt = new Set([1, 4, 5, 9, 17]);
        const make = (taskId: string, i: number) =>
          rangeRecord(taskId, i, failedAt.has(i) ? { state: 'failed', errorCode: 1001 } : {});
        const taskId = await taskWithRecords(
          Array.from({ length: 20 }, (_, i) => i),
          make,
        );

        const first = await store.list(taskId, 0, 2, 'failed');
        expect(first).toEqual({ records: [make(taskId, 1), make(taskId, 4)], next: 5 });
        const second = await store.list(taskId, 5, 2, 'failed');
        expect(second).toEqual({ records: [make(taskId, 5), make(taskId, 9)], next: 10 });
        expect(await store.list(taskId, 10, 2, 'failed')).toEqual({ records: [make(taskId, 17)] });
        expect(await store.list(taskId, 0, 100, 'finished')).toEqual({ records: [] });
        expect((await store.list(taskId, 0, 100, 'running')).records).toHaveLength(15);
      });

      it('lists nothing for a task without records', async () => {
        expect(await store.list(newTaskId(), 0, 10)).toEqual({ records: [] });
        expect(await store.list(newTaskId(), 0, 10, 'failed')).toEqual({ records: [] });
      });
    });
  });
}
