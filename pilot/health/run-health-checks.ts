/**
 * The node checks a pilot runs before it takes work (PanDA pilot3, DIRAC and glideins do the
 * same): free disk, memory, cores, load, software areas, the API (reachable, clock) and the
 * token's lifetime. Each check reads /proc, statfs or os.* and never spawns a tool.
 */
import type { HealthCheck } from '#core/pilots/pilot.ts';
import { type ApiProbe, probeApi } from './api-probe.ts';
import { checkApiReachable } from './api-reachable.ts';
import { checkResult } from './check-result.ts';
import { type ClockOffset, checkClockSkew, clockOffset } from './clock-skew.ts';
import { checkCores } from './cores.ts';
import { checkDiskSpace, type StatfsFn } from './disk-space.ts';
import { checkLoad } from './load.ts';
import { checkMemory, type MemoryPaths } from './memory.ts';
import { checkRequiredPaths } from './required-paths.ts';
import { checkTokenLifetime, jwtExpiry } from './token-lifetime.ts';

export interface HealthCheckSettings {
  /** Parent of the jobs' work directories (the disk check's file system). */
  workRoot: string;
  apiUrl: string;
  token: string;
  cores: number;
  memoryMB: number;
  minFreeDiskMB: number;
  maxLoadPerCore: number;
  maxClockSkewSec: number;
  minTokenLifetimeSec: number;
  requirePaths: string[];
}

/** Where the checks look; tests give fake files and functions. */
export interface HealthCheckSources {
  memoryPaths?: MemoryPaths;
  loadavgPath?: string;
  cpuCount?: number;
  availableCores?: number;
  statfs?: StatfsFn;
  probe?: (apiUrl: string) => Promise<ApiProbe>;
  now?: () => number;
}

export interface HealthReport {
  checks: HealthCheck[];
  /** True when every check passed. */
  healthy: boolean;
  /** The API's clock against ours, when measured. */
  clock?: ClockOffset;
  /** When the token expires (ms since the epoch, by our clock), when it is a JWT with `exp`. */
  tokenExpiresAt?: number;
}

/** Runs a check; one that throws is a failed check with the error as its message. */
async function guarded(name: string, check: () => Promise<HealthCheck> | HealthCheck): Promise<HealthCheck> {
  try {
    return await check();
  } catch (error) {
    return checkResult(name, false, 'check failed', (error as Error).message);
  }
}

export async function runHealthChecks(
  settings: HealthCheckSettings,
  sources: HealthCheckSources = {},
): Promise<HealthReport> {
  const now = sources.now ?? Date.now;
  const probe = (sources.probe ?? ((url: string) => probeApi(url, { now })))(settings.apiUrl);
  const local = Promise.all([
    guarded('disk', () =>
      checkDiskSpace({
        path: settings.workRoot,
        minFreeMB: settings.minFreeDiskMB,
        ...(sources.statfs === undefined ? {} : { statfs: sources.statfs }),
      }),
    ),
    guarded('memory', () =>
      checkMemory({
        advertisedMB: settings.memoryMB,
        ...(sources.memoryPaths === undefined ? {} : { paths: sources.memoryPaths }),
      }),
    ),
    guarded('cores', () =>
      checkCores({
        advertised: settings.cores,
        ...(sources.availableCores === undefined ? {} : { available: sources.availableCores }),
      }),
    ),
    guarded('load', () =>
      checkLoad({
        maxPerCore: settings.maxLoadPerCore,
        ...(sources.loadavgPath === undefined ? {} : { loadavgPath: sources.loadavgPath }),
        ...(sources.cpuCount === undefined ? {} : { cpuCount: sources.cpuCount }),
      }),
    ),
    ...(settings.requirePaths.length === 0
      ? []
      : [guarded('software-areas', () => checkRequiredPaths({ paths: settings.requirePaths }))]),
  ]);
  const [localChecks, probed] = await Promise.all([local, probe]);
  const clock = clockOffset(probed);
  const checks = [
    ...localChecks,
    checkApiReachable(probed, settings.apiUrl),
    checkClockSkew(probed, settings.maxClockSkewSec),
    checkTokenLifetime({
      token: settings.token,
      minLifetimeSec: settings.minTokenLifetimeSec,
      nowMs: now(),
      ...(clock === undefined ? {} : { serverOffsetMs: clock.offsetMs }),
    }),
  ];
  const report: HealthReport = { checks, healthy: checks.every((c) => c.ok) };
  if (clock !== undefined) report.clock = clock;
  const exp = jwtExpiry(settings.token);
  if (exp !== undefined) report.tokenExpiresAt = exp * 1000 - (clock?.offsetMs ?? 0);
  return report;
}
