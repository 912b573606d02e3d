/**
 * The AccountingStore contract (core/accounting/ports.ts), written once and run against the
 * in-memory fake the unit tests use and the DynamoDB adapter production uses.
 */
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { AccountingStore } from '#core/accounting/ports.ts';
import type { UsageRecord } from '#core/accounting/usage.ts';

function usage(overrides: Partial<UsageRecord> = {}): UsageRecord {
  return {
    taskId: `t-${randomBytes(6).toString('hex')}`,
    jobIndex: 0,
    attempt: 1,
    day: '2026-12-02',
    user: 'alice',
    group: 'atlas',
    siteId: 'cern',
    resourceClass: 'score',
    cores: 1,
    state: 'finished',
    pilotErrorCode: 0,
    exitCode: 0,
    startedAt: '2026-12-02T10:00:00.000Z',
    endedAt: '2026-12-02T10:01:00.100Z',
    wallSec: 60.1,
    cpuSec: 0.1,
    coreSec: 60.1,
    maxRssMB: 100,
    ...overrides,
  };
}

export function describeAccountingStoreContract(
  name: string,
  makeStore: () => Promise<AccountingStore>,
): void {
  describe(`${name} (AccountingStore contract)`, () => {
    let store: AccountingStore;
    beforeAll(async () => {
      store = await makeStore();
    });

    it('adds a record to its user, group and site roll-ups, and a replay adds nothing', async () => {
      const user = `u-${randomBytes(4).toString('hex')}`;
      const first = usage({ user, hs23Sec: 1.2 });
      expect(await store.record(first)).toBe('recorded');
      expect(await store.record({ ...first })).toBe('duplicate');
      const second = usage({
        user,
        taskId: first.taskId,
        jobIndex: 1,
        state: 'failed',
        pilotErrorCode: 1001,
        wallSec: 0.2,
        cpuSec: 0.2,
        coreSec: 0.4,
        cores: 2,
        maxRssMB: 300,
      });
      expect(await store.record(second)).toBe('recorded');
      expect(await store.record(second)).toBe('duplicate');
      const rows = await store.rollups('user', { from: '2026-12-02', to: '2026-12-02', key: user });
      expect(rows).toEqual([
        {
          day: '2026-12-02',
          key: user,
          attempts: 2,
          finished: 1,
          failed: 1,
          coreSec: 60.5,
          wallSec: 60.3,
          cpuSec: 0.3,
          hs23Sec: 1.2,
          maxRssMB: 300,
        },
      ]);
      const site = await store.rollups('site', { from: '2026-12-01', to: '2026-12-03' });
      expect(site.find((r) => r.key === 'cern')?.attempts).toBeGreaterThanOrEqual(2);
      const group = await store.rollups('group', { from: '2026-12-02', to: '2026-12-02', key: 'atlas' });
      expect(group[0]?.attempts).toBeGreaterThanOrEqual(2);
    });

    it("adds an attempt's cost to its roll-ups and its task's total once, whatever the replays", async () => {
      const suffix = randomBytes(4).toString('hex');
      const [user, siteId] = [`c-${suffix}`, `cloud-${suffix}`];
      const taskId = `t-${suffix}`;
      expect(await store.taskCost(taskId)).toEqual({ usd: 0, attempts: 0 });
      const paid = usage({ taskId, user, siteId, costUsd: 0.012345 });
      expect(await store.record(paid)).toBe('recorded');
      expect(await store.record({ ...paid })).toBe('duplicate');
      const second = usage({ taskId, user, siteId, jobIndex: 1, state: 'failed', costUsd: 0.000001 });
      expect(await store.record(second)).toBe('recorded');
      // An attempt without a cost (a free site, or a pilot without a price) adds to no total.
      expect(await store.record(usage({ taskId, user, jobIndex: 2 }))).toBe('recorded');
      expect(await store.record(second)).toBe('duplicate');
      expect(await store.taskCost(taskId)).toEqual({ usd: 0.012346, attempts: 2 });
      const [site] = await store.rollups('site', { from: '2026-12-02', to: '2026-12-02', key: siteId });
      expect(site).toMatchObject({ attempts: 2, finished: 1, failed: 1, costUsd: 0.012346 });
      const [mine] = await store.rollups('user', { from: '2026-12-02', to: '2026-12-02', key: user });
      expect(mine).toMatchObject({ attempts: 3, costUsd: 0.012346 });
      // A roll-up of free attempts only has no cost at all (not 0: nothing was priced).
      const [cern] = await store.rollups('site', { from: '2026-12-02', to: '2026-12-02', key: 'cern' });
      expect(cern?.costUsd).toBeUndefined();
    });

    it('reads roll-ups of the days asked for, in day and key order, and only the key asked for', async () => {
      const suffix = randomBytes(4).toString('hex');
      const [a, b] = [`a-${suffix}`, `b-${suffix}`];
      for (const [day, user] of [
        ['2027-03-01', b],
        ['2027-03-01', a],
        ['2027-03-02', a],
        ['2027-03-04', a],
        ['2027-02-28', a],
      ] as const) {
        await store.record(usage({ day, user, group: `g-${suffix}`, siteId: `s-${suffix}` }));
      }
      const all = (await store.rollups('user', { from: '2027-03-01', to: '2027-03-03' })).filter((r) =>
        r.key.endsWith(suffix),
      );
      expect(all.map((r) => [r.day, r.key])).toEqual([
        ['2027-03-01', a],
        ['2027-03-01', b],
        ['2027-03-02', a],
      ]);
      const mine = await store.rollups('user', { from: '2027-02-01', to: '2027-03-31', key: a });
      expect(mine.map((r) => r.day)).toEqual(['2027-02-28', '2027-03-01', '2027-03-02', '2027-03-04']);
      expect(await store.rollups('user', { from: '2027-03-05', to: '2027-03-31', key: a })).toEqual([]);
    });

    it("lists one day's records, every one of them and no other day's", async () => {
      const day = '2028-01-15';
      const records = Array.from({ length: 40 }, (_, i) =>
        usage({ day, jobIndex: i, taskId: `t-${randomBytes(6).toString('hex')}` }),
      );
      for (const r of records) await store.record(r);
      await store.record(usage({ day: '2028-01-16' }));
      const found = await store.usageOfDay(day);
      const key = (r: UsageRecord) => `${r.taskId}#${r.jobIndex}#${r.attempt}`;
      expect(found.map(key).sort()).toEqual(records.map(key).sort());
      expect(found.find((r) => r.taskId === records[3]?.taskId)).toEqual(records[3]);
    });
  });
}
