import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkCores } from '#pilot/health/cores.ts';
import { checkLoad, parseLoadAvg5 } from '#pilot/health/load.ts';

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'gluon-load-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('checkCores', () => {
  it('passes when the process may use at least the advertised CPUs', async () => {
    expect(await checkCores({ advertised: 8, available: 8 })).toEqual({
      name: 'cores',
      ok: true,
      value: '8 usable, 8 advertised',
    });
  });

  it('fails when fewer CPUs are usable than advertised', async () => {
    const check = await checkCores({ advertised: 16, available: 4 });
    expect(check.ok).toBe(false);
    expect(check.message).toContain('--cores 16');
  });
});

describe('checkLoad', () => {
  it('reads the 5-minute load average', () => {
    expect(parseLoadAvg5('0.50 1.25 1.50 1/89 123\n')).toBe(1.25);
    expect(parseLoadAvg5('garbage')).toBeUndefined();
  });

  it('passes under the threshold per CPU and fails above it', async () => {
    const loadavgPath = join(root, 'loadavg');
    writeFileSync(loadavgPath, '9.00 7.00 5.00 3/200 999\n');
    const ok = await checkLoad({ maxPerCore: 2, loadavgPath, cpuCount: 4 });
    expect(ok).toEqual({ name: 'load', ok: true, value: 'load 7.00 on 4 CPUs (1.75 per CPU)' });
    const bad = await checkLoad({ maxPerCore: 1.5, loadavgPath, cpuCount: 4 });
    expect(bad.ok).toBe(false);
    expect(bad.message).toContain('--max-load-per-core');
  });
});
