import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ApiProbe } from '#pilot/health/api-probe.ts';
import { type HealthCheckSettings, runHealthChecks } from '#pilot/health/run-health-checks.ts';

const NOW = Date.parse('2026-11-25T12:00:00Z');
let root: string;
let settings: HealthCheckSettings;

function jwt(exp: number): string {
  const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'none' })}.${part({ exp })}.x`;
}

const probe =
  (serverDate: number): (() => Promise<ApiProbe>) =>
  async () => ({
    reachable: true,
    status: 401,
    sentAt: NOW,
    receivedAt: NOW + 20,
    serverDate,
  });

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'gluon-health-'));
  writeFileSync(join(root, 'meminfo'), 'MemAvailable: 8388608 kB\n');
  writeFileSync(join(root, 'loadavg'), '0.10 0.20 0.30 1/50 10\n');
  settings = {
    workRoot: root,
    apiUrl: 'http://127.0.0.1:1',
    token: jwt(NOW / 1000 + 86_400),
    cores: 4,
    memoryMB: 8000,
    minFreeDiskMB: 2048,
    maxLoadPerCore: 4,
    maxClockSkewSec: 120,
    minTokenLifetimeSec: 600,
    requirePaths: [],
  };
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function sources(overrides: { serverDate?: number; freeMB?: number } = {}) {
  return {
    memoryPaths: { meminfo: join(root, 'meminfo'), selfCgroup: join(root, 'none'), cgroupRoot: root },
    loadavgPath: join(root, 'loadavg'),
    cpuCount: 4,
    availableCores: 4,
    statfs: async () => ({ bavail: (overrides.freeMB ?? 10_000) * 256, bsize: 4096 }),
    probe: probe(overrides.serverDate ?? NOW),
    now: () => NOW,
  };
}

describe('runHealthChecks', () => {
  it('runs every check and is healthy when all pass', async () => {
    const report = await runHealthChecks(settings, sources());
    expect(report.checks.map((c) => c.name)).toEqual([
      'disk',
      'memory',
      'cores',
      'load',
      'api',
      'clock',
      'token',
    ]);
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    expect(report.healthy).toBe(true);
    expect(report.clock).toEqual({ offsetMs: 490, uncertaintyMs: 510 });
    expect(report.tokenExpiresAt).toBe(NOW + 86_400_000 - 490);
  });

  it('adds the software-areas check when paths are required, and is unhealthy when one fails', async () => {
    const report = await runHealthChecks(
      { ...settings, requirePaths: ['/nonexistent/cvmfs/atlas.cern.ch'] },
      sources(),
    );
    expect(report.healthy).toBe(false);
    expect(report.checks.find((c) => c.name === 'software-areas')).toMatchObject({
      ok: false,
      message: '/nonexistent/cvmfs/atlas.cern.ch: not found',
    });
  });

  it('is unhealthy with too little disk or a clock far off', async () => {
    const lowDisk = await runHealthChecks(settings, sources({ freeMB: 100 }));
    expect(lowDisk.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(['disk']);
    const skewed = await runHealthChecks(settings, sources({ serverDate: NOW + 3_600_000 }));
    expect(skewed.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(['clock']);
  });

  it('turns a check that throws into a failed check', async () => {
    const report = await runHealthChecks(settings, {
      ...sources(),
      statfs: async () => {
        throw new Error('EIO: i/o error');
      },
    });
    expect(report.checks[0]).toEqual({
      name: 'disk',
      ok: false,
      value: 'check failed',
      message: 'EIO: i/o error',
    });
    expect(report.healthy).toBe(false);
  });
});
