import { statfs } from 'node:fs/promises';
import type { HealthCheck } from '#core/pilots/pilot.ts';
import { checkResult, formatMB } from './check-result.ts';

export type StatfsFn = (path: string) => Promise<{ bavail: number; bsize: number }>;

/** Free space (for unprivileged users) of the file system holding `path`, in MB. */
export async function freeDiskMB(path: string, statfsFn: StatfsFn = statfs): Promise<number> {
  const fs = await statfsFn(path);
  return Math.floor((fs.bavail * fs.bsize) / 2 ** 20);
}

/** Enough free space in the work area (PanDA asks 2 GB before a pilot takes work). */
export async function checkDiskSpace(options: {
  path: string;
  minFreeMB: number;
  statfs?: StatfsFn;
}): Promise<HealthCheck> {
  const free = await freeDiskMB(options.path, options.statfs);
  const value = `${formatMB(free)} free in ${options.path}`;
  if (free >= options.minFreeMB) return checkResult('disk', true, value);
  return checkResult(
    'disk',
    false,
    value,
    `less than the ${formatMB(options.minFreeMB)} needed before taking work (--min-free-disk-mb)`,
  );
}
