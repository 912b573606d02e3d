import { readFileSync } from 'node:fs';
import { freemem } from 'node:os';
import { join } from 'node:path';
import type { HealthCheck } from '#core/pilots/pilot.ts';
import { checkResult, formatMB } from './check-result.ts';

export interface MemoryPaths {
  meminfo: string;
  /** This process's cgroup membership. */
  selfCgroup: string;
  /** Where the cgroup file systems are mounted. */
  cgroupRoot: string;
}

export const SYSTEM_MEMORY_PATHS: MemoryPaths = {
  meminfo: '/proc/meminfo',
  selfCgroup: '/proc/self/cgroup',
  cgroupRoot: '/sys/fs/cgroup',
};

/** Share of the advertised memory that must be available: the rest is slack for the pilot itself and cache churn. */
export const MEMORY_SLACK = 0.9;

export interface AvailableMemory {
  /** What a payload may use now: MemAvailable, or what the cgroup's limit leaves when that is lower. */
  availableMB: number;
  memAvailableMB?: number;
  cgroupLimitMB?: number;
  cgroupUsedMB?: number;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** MemAvailable from /proc/meminfo in MB (MemFree+Buffers+Cached on kernels before 3.14). */
export function parseMemAvailableMB(meminfo: string): number | undefined {
  const field = (name: string): number | undefined => {
    const match = new RegExp(`^${name}:\\s+(\\d+)\\s+kB`, 'm').exec(meminfo);
    return match ? Number(match[1]) : undefined;
  };
  const available = field('MemAvailable');
  if (available !== undefined) return Math.floor(available / 1024);
  const free = field('MemFree');
  if (free === undefined) return undefined;
  return Math.floor((free + (field('Buffers') ?? 0) + (field('Cached') ?? 0)) / 1024);
}

/** Limit and usage of this process's memory cgroup (v2, or v1's memory controller), in bytes. */
function cgroupMemory(paths: MemoryPaths): { limit: number; used: number } | undefined {
  const membership = readText(paths.selfCgroup);
  if (membership === undefined) return undefined;
  const lines = membership.split('\n');
  const v2 = lines.find((l) => l.startsWith('0::'));
  const v1 = lines.find((l) => /^\d+:([^:]*,)?memory(,[^:]*)?:/.test(l));
  let limitText: string | undefined;
  let usedText: string | undefined;
  if (v1 !== undefined) {
    const dir = join(paths.cgroupRoot, 'memory', v1.slice(v1.lastIndexOf(':') + 1));
    limitText = readText(join(dir, 'memory.limit_in_bytes'));
    usedText = readText(join(dir, 'memory.usage_in_bytes'));
  } else if (v2 !== undefined) {
    const dir = join(paths.cgroupRoot, v2.slice(3));
    limitText = readText(join(dir, 'memory.max'));
    usedText = readText(join(dir, 'memory.current'));
  }
  const limit = Number(limitText?.trim());
  // "max" (v2) or a number near 2^63 (v1) means no limit.
  if (limitText === undefined || !Number.isFinite(limit) || limit <= 0 || limit >= 2 ** 60) return undefined;
  const used = Number(usedText?.trim());
  return { limit, used: Number.isFinite(used) ? used : 0 };
}

/** The memory a payload could use now (reads /proc and the cgroup files; never spawns). */
export function availableMemoryMB(paths: MemoryPaths = SYSTEM_MEMORY_PATHS): AvailableMemory {
  const meminfo = readText(paths.meminfo);
  const memAvailableMB = meminfo === undefined ? undefined : parseMemAvailableMB(meminfo);
  const result: AvailableMemory = { availableMB: memAvailableMB ?? Math.floor(freemem() / 2 ** 20) };
  if (memAvailableMB !== undefined) result.memAvailableMB = memAvailableMB;
  const cgroup = cgroupMemory(paths);
  if (cgroup !== undefined) {
    result.cgroupLimitMB = Math.floor(cgroup.limit / 2 ** 20);
    result.cgroupUsedMB = Math.floor(cgroup.used / 2 ** 20);
    result.availableMB = Math.min(result.availableMB, result.cgroupLimitMB - result.cgroupUsedMB);
  }
  result.availableMB = Math.max(0, result.availableMB);
  return result;
}

/** The advertised memory is there: at least 90 % of it is available now. */
export async function checkMemory(options: {
  advertisedMB: number;
  paths?: MemoryPaths;
}): Promise<HealthCheck> {
  const memory = availableMemoryMB(options.paths);
  const cgroup =
    memory.cgroupLimitMB === undefined
      ? ''
      : ` (cgroup limit ${formatMB(memory.cgroupLimitMB)}, ${formatMB(memory.cgroupUsedMB ?? 0)} used)`;
  const value = `${formatMB(memory.availableMB)} available${cgroup}, ${formatMB(options.advertisedMB)} advertised`;
  if (memory.availableMB >= options.advertisedMB * MEMORY_SLACK) return checkResult('memory', true, value);
  return checkResult(
    'memory',
    false,
    value,
    `less memory is available than advertised (--memory-mb ${options.advertisedMB})`,
  );
}
