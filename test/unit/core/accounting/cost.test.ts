import { describe, expect, it, vi } from 'vitest';
import { exportUsage } from '#core/accounting/export-usage.ts';
import { readAccounting } from '#core/accounting/read-accounting.ts';
import { recordUsage } from '#core/accounting/record-usage.ts';
import { addUsd, attemptCostUsd, roundUsd } from '#core/accounting/usage.ts';
import { SCOPES } from '#core/api/common.ts';
import type { Attempt } from '#core/jobs/job.ts';
import type { Pilot } from '#core/pilots/pilot.ts';
import { type InMemoryDeps, inMemoryDeps } from '#test/support/in-memory-ports.ts';
import { parquetRows } from '#test/support/parquet.ts';
import { addPaidSite, addSite, BIG_PILOT, BIG_SLOT } from '../scenario.ts';

const admin = { sub: 'operator', scopes: [SCOPES.admin] };

function pilot(pilotId: string, siteId: string, hourlyUsd?: number): Pilot {
  return {
    pilotId,
    siteId,
    host: 'ip-10-0-0-1.ec2.internal',
    pid: 1,
    version: 'test',
    resources: BIG_PILOT,
    state: 'idle',
    registeredAt: '2026-12-02T09:00:00.000Z',
    ...(hourlyUsd === undefined
      ? {}
      : { cost: { hourlyUsd, instanceHourlyUsd: hourlyUsd * 4, source: 'table', asOf: '2026-11-01' } }),
  };
}

function ended(siteId: string, pilotId: string, jobIndex: number, wallTimeSec: number) {
  const attempt: Attempt = {
    attempt: 1,
    pilotId,
    siteId,
    state: jobIndex === 3 ? 'failed' : 'finished',
    startedAt: '2026-12-02T10:00:00.000Z',
    endedAt: '2026-12-02T11:00:00.000Z',
    pilotErrorCode: jobIndex === 3 ? 1001 : 0,
    usage: { wallTimeSec, cpuTimeSec: 1, maxRssKB: 1024 },
  };
  return { taskId: 't-cost', jobIndex, attempt };
}

async function sites(): Promise<InMemoryDeps> {
  const deps = inMemoryDeps({ start: '2026-12-02T12:00:00.000Z' });
  await addSite(deps, { siteId: 'cern', slot: BIG_SLOT });
  await addPaidSite(deps, 'cloud-a');
  await deps.pilots.register(pilot('p-paid', 'cloud-a', 0.048));
  await deps.pilots.register(pilot('p-unpriced', 'cloud-a'));
  await deps.pilots.register(pilot('p-free', 'cern', 0.5));
  return deps;
}

describe('cost arithmetic', () => {
  it('prices wall time at the hourly price, to the billionth of a dollar (short attempts do not round to 0)', () => {
    expect(attemptCostUsd(3600, 0.048)).toBe(0.048);
    expect(attemptCostUsd(90, 0.048)).toBe(0.0012);
    expect(attemptCostUsd(1, 0.037)).toBe(0.000010278);
    expect(attemptCostUsd(0.01, 0.0185)).toBe(0.000000051);
    expect(attemptCostUsd(0.00001, 0.037)).toBe(0);
    expect(roundUsd(0.1 + 0.2)).toBe(0.3);
    expect(addUsd(0.000001, 0.1)).toBe(0.100001);
    expect(addUsd(0.000000051, 0.000000051)).toBe(0.000000102);
  });
});

describe('recordUsage with paid sites', () => {
  it("costs an attempt at a paid site its wall time at its pilot's price, reading each pilot once", async () => {
    const deps = await sites();
    const get = vi.spyOn(deps.pilots, 'get');
    await recordUsage(deps, [
      ended('cloud-a', 'p-paid', 0, 1800),
      ended('cloud-a', 'p-paid', 1, 900),
      ended('cloud-a', 'p-unpriced', 2, 600),
      ended('cloud-a', 'p-paid', 3, 60),
      ended('cern', 'p-free', 4, 3600),
    ]);
    // One read per pilot of the paid site; the free site's attempt reads no pilot at all.
    expect(get.mock.calls.map(([id]) => id).sort()).toEqual(['p-paid', 'p-unpriced']);
    const records = await deps.accounting.usageOfDay('2026-12-02');
    const costOf = (jobIndex: number) => records.find((r) => r.jobIndex === jobIndex)?.costUsd;
    expect([0, 1, 2, 3, 4].map(costOf)).toEqual([0.024, 0.012, undefined, 0.0008, undefined]);
    expect(await deps.accounting.taskCost('t-cost')).toEqual({ usd: 0.0368, attempts: 3 });
  });

  it('shows cost and USD per finished job in the roll-ups; rows without cost have neither', async () => {
    const deps = await sites();
    await recordUsage(deps, [
      ended('cloud-a', 'p-paid', 0, 1800),
      ended('cloud-a', 'p-paid', 1, 900),
      ended('cloud-a', 'p-paid', 3, 60),
      ended('cern', 'p-free', 4, 3600),
    ]);
    const view = await readAccounting(deps, admin, { by: 'site', from: '2026-12-02', to: '2026-12-02' });
    expect(view.rows.map((r) => [r.key, r.finished, r.costUsd, r.usdPerJob])).toEqual([
      ['cern', 1, undefined, undefined],
      // Two finished jobs paid for three attempts (one failed).
      ['cloud-a', 2, 0.0368, 0.0184],
    ]);
  });

  it('exports each record with its cost (empty without one), in CSV and Parquet', async () => {
    const deps = await sites();
    await recordUsage(deps, [ended('cloud-a', 'p-paid', 0, 1800), ended('cern', 'p-free', 4, 3600)]);
    const answer = await exportUsage(deps, '2026-12-02');
    const csv = new TextDecoder()
      .decode(deps.accountingExports.objects.get(answer.csvKey)?.body)
      .split('\r\n');
    expect(csv[0]?.split(',').at(-1)).toBe('costUsd');
    expect(csv.slice(1, 3).map((line) => line.split(',').at(-1))).toEqual(['0.024', '']);
    const parquet = deps.accountingExports.objects.get(answer.parquetKey ?? '');
    if (parquet === undefined) throw new Error('no Parquet export');
    expect((await parquetRows(parquet.body)).map((r) => r.costUsd)).toEqual([0.024, null]);
  });
});
