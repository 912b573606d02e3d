import { describe, expect, it } from 'vitest';
import { exportUsage, usageCsv } from '#core/accounting/export-usage.ts';
import { readAccounting } from '#core/accounting/read-accounting.ts';
import type { UsageRecord } from '#core/accounting/usage.ts';
import { SCOPES } from '#core/api/common.ts';
import { recordJobChanges } from '#core/jobs/record-job-changes.ts';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import { parseShareTree } from '#core/policies/shares.ts';
import { type InMemoryDeps, inMemoryDeps } from '#test/support/in-memory-ports.ts';
import { parquetRows as readParquetRows } from '#test/support/parquet.ts';
import {
  addPilot,
  addSite,
  alice,
  BIG_SLOT,
  bob,
  claimed,
  complete,
  generationSpec,
  report,
  runningTask,
} from '../scenario.ts';

const admin = { sub: 'operator', scopes: [SCOPES.admin] };

/** The rows of an exported Parquet file, read with hyparquet (a reader apart from the writer). */
async function parquetRows(deps: InMemoryDeps, key: string): Promise<Array<Record<string, unknown>>> {
  const object = deps.accountingExports.objects.get(key);
  if (object === undefined) throw new Error(`nothing exported at ${key}`);
  return readParquetRows(object.body);
}

/** A task of two jobs at a site with an HS23 factor: job 0 fails once then finishes, job 1 finishes. */
async function ranWithRetry() {
  const deps = inMemoryDeps({ start: '2026-12-02T10:00:00.000Z' });
  await addSite(deps, { siteId: 'cern', slot: BIG_SLOT, accounting: { hs23PerCore: 10 } });
  await deps.policies.putShares(
    parseShareTree({
      groups: [
        { name: 'default', share: 50 },
        { name: 'atlas', share: 50 },
      ],
      users: [{ user: 'alice', group: 'atlas' }],
    }),
    { expectedVersion: 0, at: '2026-12-02T00:00:00.000Z', by: 'operator' },
  );
  const taskId = await runningTask(deps, generationSpec(2));
  const pilotId = await addPilot(deps);
  const usage = { wallTimeSec: 1.5, cpuTimeSec: 0.7, maxRssKB: 10_240 };
  const first = { taskId, jobIndex: 0, attempt: 1 };
  await claimed(deps, pilotId, first);
  await complete(deps, pilotId, report(first, PILOT_ERROR_CODES.PAYLOAD_FAILED, { usage }));
  for (const ref of [
    { taskId, jobIndex: 0, attempt: 2 },
    { taskId, jobIndex: 1, attempt: 1 },
  ]) {
    await claimed(deps, pilotId, ref);
    await complete(deps, pilotId, report(ref, PILOT_ERROR_CODES.OK, { usage }));
  }
  return { deps, taskId, changes: deps.jobs.takeChanges() };
}

describe('accounting from the change feed', () => {
  it('writes one record per ended attempt and rolls them up; a replayed batch changes nothing', async () => {
    const { deps, taskId, changes } = await ranWithRetry();
    const done = await recordJobChanges(deps, changes);
    expect(done.accounted).toBe(3);
    const records = await deps.accounting.usageOfDay('2026-12-02');
    expect(records.map((r) => [r.jobIndex, r.attempt, r.state]).sort()).toEqual([
      [0, 1, 'failed'],
      [0, 2, 'finished'],
      [1, 1, 'finished'],
    ]);
    expect(records[0]).toMatchObject({ taskId, user: 'alice', group: 'atlas', siteId: 'cern', hs23Sec: 7 });
    const view = async () =>
      readAccounting(deps, admin, { by: 'group', from: '2026-12-02', to: '2026-12-02' });
    const before = await view();
    expect(before.rows).toEqual([
      {
        day: '2026-12-02',
        key: 'atlas',
        attempts: 3,
        finished: 2,
        failed: 1,
        coreSec: 4.5,
        wallSec: 4.5,
        cpuSec: 2.1,
        hs23Sec: 21,
        maxRssMB: 10,
      },
    ]);
    // The feed delivers at least once: the same batch again, and one change alone again.
    expect((await recordJobChanges(deps, changes)).accounted).toBe(0);
    expect((await recordJobChanges(deps, changes.slice(-1))).accounted).toBe(0);
    expect(await view()).toEqual(before);
  });
});

describe('readAccounting', () => {
  it.each([
    ['from after to', { from: '2026-12-03', to: '2026-12-02' }, 'from', /after/],
    ['a range over 366 days', { from: '2025-01-01', to: '2026-12-02' }, 'from', /366/],
  ])('refuses %s, naming the field', async (_, range, field, message) => {
    const deps = inMemoryDeps();
    const refused = readAccounting(deps, alice, { by: 'user', ...range });
    await expect(refused).rejects.toMatchObject({
      name: 'ValidationError',
      issues: [{ field, message: expect.stringMatching(message) }],
    });
  });

  it("shows a user their own rows only, refuses them groups and sites, and shows operators everyone's", async () => {
    const { deps, changes } = await ranWithRetry();
    await recordJobChanges(deps, changes);
    const range = { from: '2026-12-01', to: '2026-12-02' };
    expect((await readAccounting(deps, alice, { by: 'user', ...range })).rows.map((r) => r.key)).toEqual([
      'alice',
    ]);
    expect((await readAccounting(deps, bob, { by: 'user', ...range })).rows).toEqual([]);
    await expect(readAccounting(deps, alice, { by: 'site', ...range })).rejects.toMatchObject({
      name: 'ForbiddenError',
      message: expect.stringMatching(/^by: /),
    });
    expect((await readAccounting(deps, admin, { by: 'site', ...range })).rows.map((r) => r.key)).toEqual([
      'cern',
    ]);
  });

  it('defaults to the week up to today', async () => {
    const deps = inMemoryDeps({ start: '2026-12-02T10:00:00.000Z' });
    expect(await readAccounting(deps, alice, { by: 'user' })).toEqual({
      by: 'user',
      from: '2026-11-26',
      to: '2026-12-02',
      rows: [],
    });
  });
});

describe('exportUsage', () => {
  it("writes yesterday's records as CSV and Parquet in daily partitions, which read back equal", async () => {
    const { deps, changes } = await ranWithRetry();
    await recordJobChanges(deps, changes);
    deps.clock.set('2026-12-03T00:30:00.000Z');
    const answer = await exportUsage(deps, undefined);
    expect(answer).toEqual({
      day: '2026-12-02',
      records: 3,
      bucket: deps.objects.bucket,
      csvKey: 'accounting/usage/format=csv/day=2026-12-02/usage.csv',
      parquetKey: 'accounting/usage/format=parquet/day=2026-12-02/usage.parquet',
    });
    const records = await deps.accounting.usageOfDay('2026-12-02');
    const parquet = deps.accountingExports.objects.get(answer.parquetKey ?? '');
    expect(parquet?.contentType).toBe('application/vnd.apache.parquet');
    const rows = await parquetRows(deps, answer.parquetKey ?? '');
    expect(rows).toHaveLength(3);
    const byKey = new Map(records.map((r) => [`${r.jobIndex}.${r.attempt}`, r]));
    for (const row of rows) {
      const record = byKey.get(`${row.jobIndex}.${row.attempt}`) as UsageRecord;
      const { day: _day, startedAt, endedAt, exitCode, hs23Sec, ...rest } = record;
      expect(row).toMatchObject({ ...rest, exitCode: exitCode ?? null, hs23Sec: hs23Sec ?? null });
      expect((row.startedAt as Date).toISOString()).toBe(startedAt);
      expect((row.endedAt as Date).toISOString()).toBe(endedAt);
    }
    const csv = new TextDecoder().decode(deps.accountingExports.objects.get(answer.csvKey)?.body);
    expect(csv).toBe(usageCsv(records));
    expect(csv.split('\r\n')[0]).toBe(
      'taskId,jobIndex,attempt,user,group,siteId,resourceClass,cores,state,pilotErrorCode,exitCode,startedAt,endedAt,wallSec,cpuSec,coreSec,maxRssMB,hs23Sec,costUsd',
    );
    expect(csv.split('\r\n')).toHaveLength(5);
  });

  it('quotes CSV fields with commas and quotes, and writes an empty day as a header alone, with no Parquet', async () => {
    const deps = inMemoryDeps();
    const answer = await exportUsage(deps, '2026-12-01');
    expect(answer.records).toBe(0);
    expect(answer.parquetKey).toBeUndefined();
    expect([...deps.accountingExports.objects.keys()]).toEqual([answer.csvKey]);
    expect(
      new TextDecoder().decode(deps.accountingExports.objects.get(answer.csvKey)?.body).split('\r\n'),
    ).toHaveLength(2);
    const quoted = usageCsv([{ user: 'Doe, "J"' } as UsageRecord]).split('\r\n')[1];
    expect(quoted).toContain(',"Doe, ""J""",');
  });
});
