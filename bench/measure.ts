/** What the benchmark reads off the machine: CPU and memory of processes (/proc), percentiles, pilot logs. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const CLOCK_TICKS_PER_SEC = 100;

/**
 * CPU seconds (user + system) of a process itself, from /proc/<pid>/stat, and with `children`
 * those of its children it has waited for; 0 when unreadable.
 */
export function processCpuSec(pid: number, children = false): number {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = text
      .slice(text.lastIndexOf(')') + 1)
      .trim()
      .split(/\s+/);
    const own = Number(rest[11]) + Number(rest[12]);
    return (children ? own + Number(rest[13]) + Number(rest[14]) : own) / CLOCK_TICKS_PER_SEC;
  } catch {
    return 0;
  }
}

/** Resident memory of a process in MB (VmRSS), 0 when unreadable. */
export function processRssMB(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? 0 : Number(match[1]) / 1024;
  } catch {
    return 0;
  }
}

/** This process's CPU seconds so far. */
export function ownCpuSec(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
}

export function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export interface PilotStats {
  /** Pilots whose exit line was found. */
  reported: number;
  awsRequests: Record<string, number>;
  apiRequests: Record<string, number>;
  /** CPU seconds of the pilots and of the payloads they ran. */
  cpuSec: number;
}

/**
 * Sums what each pilot logged when it exited (requests it sent, CPU it used), from the files of
 * `logsDir` whose names start with `prefix` (the factory's pilot-…; a cloud instance's i-…).
 */
export function pilotStats(logsDir: string, prefix = 'pilot-'): PilotStats {
  const stats: PilotStats = { reported: 0, awsRequests: {}, apiRequests: {}, cpuSec: 0 };
  let files: string[] = [];
  try {
    files = readdirSync(logsDir).filter((f) => f.startsWith(prefix));
  } catch {
    return stats;
  }
  for (const file of files) {
    for (const line of readFileSync(join(logsDir, file), 'utf8').split('\n')) {
      if (!line.includes('"awsRequests"')) continue;
      try {
        const entry = JSON.parse(line) as {
          awsRequests?: Record<string, number>;
          apiRequests?: Record<string, number>;
          cpuSec?: number;
        };
        stats.reported++;
        for (const [k, v] of Object.entries(entry.awsRequests ?? {}))
          stats.awsRequests[k] = (stats.awsRequests[k] ?? 0) + v;
        for (const [k, v] of Object.entries(entry.apiRequests ?? {}))
          stats.apiRequests[k] = (stats.apiRequests[k] ?? 0) + v;
        stats.cpuSec += entry.cpuSec ?? 0;
      } catch {
        // not a JSON line
      }
    }
  }
  return stats;
}

/** Polls `read` every `intervalMs` until it returns a value; rejects after `timeoutMs`. */
export async function until<T>(
  read: () => Promise<T | undefined>,
  what: string,
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 3_600_000);
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 500));
  }
}
