import { readFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import type { HealthCheck } from '#core/pilots/pilot.ts';
import { checkResult } from './check-result.ts';

/** The 5-minute load average from /proc/loadavg (`0.50 1.00 1.50 1/89 123`). */
export function parseLoadAvg5(text: string): number | undefined {
  const value = Number(text.trim().split(/\s+/)[1]);
  return Number.isFinite(value) ? value : undefined;
}

/** The machine is not badly overloaded: 5-minute load average per CPU under a threshold. */
export async function checkLoad(options: {
  maxPerCore: number;
  loadavgPath?: string;
  cpuCount?: number;
}): Promise<HealthCheck> {
  let load: number | undefined;
  try {
    load = parseLoadAvg5(await readFile(options.loadavgPath ?? '/proc/loadavg', 'utf8'));
  } catch {
    load = loadavg()[1];
  }
  if (load === undefined) throw new Error('cannot parse the load average');
  const count = Math.max(1, options.cpuCount ?? cpus().length);
  const perCore = load / count;
  const value = `load ${load.toFixed(2)} on ${count} CPUs (${perCore.toFixed(2)} per CPU)`;
  if (perCore <= options.maxPerCore) return checkResult('load', true, value);
  return checkResult('load', false, value, `above ${options.maxPerCore} per CPU (--max-load-per-core)`);
}
