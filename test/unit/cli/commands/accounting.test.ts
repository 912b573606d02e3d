import { describe, expect, it } from 'vitest';
import { accountingCsv, renderAccountingTable } from '#cli/commands/accounting.ts';
import type { AccountingView } from '#core/api/accounting.ts';

const row = { attempts: 3, failed: 1, coreSec: 60, wallSec: 60, cpuSec: 50, maxRssMB: 100 };
const view: AccountingView = {
  by: 'site',
  from: '2026-12-02',
  to: '2026-12-02',
  rows: [
    { day: '2026-12-02', key: 'cern', finished: 2, ...row },
    { day: '2026-12-02', key: 'cloud-a', finished: 2, ...row, costUsd: 0.0368, usdPerJob: 0.0184 },
  ],
};

describe('gluon accounting --cost', () => {
  it('shows compute dollars and dollars per finished job, and their totals over paid sites', () => {
    const lines = renderAccountingTable(view, { cost: true }).split('\n');
    const cells = lines.slice(0, 3).map((line) => line.trim().split(/\s{2,}/));
    expect(cells[0]?.slice(-2)).toEqual(['COMPUTE USD', 'USD/JOB']);
    expect(cells[1]?.slice(-2)).toEqual(['-', '-']);
    expect(cells[2]?.slice(-2)).toEqual(['$0.0368', '$0.0184']);
    expect(lines[3]).toBe(
      'compute at paid sites: $0.0368 for 2 finished jobs ($0.0184 per finished job); free sites cost nothing here',
    );
  });

  it('leaves the table and CSV as they were without --cost, and adds the cost fields to CSV with it', () => {
    expect(renderAccountingTable(view)).not.toContain('USD');
    expect(accountingCsv(view).split('\r\n')[0]).toBe(
      'day,key,attempts,finished,failed,coreSec,wallSec,cpuSec,hs23Sec,maxRssMB',
    );
    const csv = accountingCsv(view, { cost: true }).split('\r\n');
    expect(csv[0]?.endsWith(',maxRssMB,costUsd,usdPerJob')).toBe(true);
    expect(csv[2]?.endsWith(',100,0.0368,0.0184')).toBe(true);
    expect(csv[1]?.endsWith(',100,,')).toBe(true);
  });
});
