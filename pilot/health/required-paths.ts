import { constants } from 'node:fs';
import { access, opendir, stat } from 'node:fs/promises';
import type { HealthCheck } from '#core/pilots/pilot.ts';
import { checkResult } from './check-result.ts';

const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * One path: it exists, is readable and, for a directory, can be listed (listing mounts an
 * automounted area such as a CVMFS repository). A hung mount is reported after the timeout.
 */
async function probePath(path: string, timeoutMs: number): Promise<string | undefined> {
  const attempt = async (): Promise<string | undefined> => {
    try {
      const info = await stat(path);
      await access(path, constants.R_OK);
      if (info.isDirectory()) {
        const dir = await opendir(path);
        try {
          await dir.read();
        } finally {
          await dir.close();
        }
      }
      return undefined;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return `${path}: not found`;
      if (code === 'EACCES' || code === 'EPERM') return `${path}: not readable`;
      return `${path}: ${code ?? (error as Error).message}`;
    }
  };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(
      () => resolve(`${path}: no answer within ${timeoutMs / 1000} s (hung mount?)`),
      timeoutMs,
    );
    timer.unref();
  });
  try {
    return await Promise.race([attempt(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Required software areas (e.g. /cvmfs/atlas.cern.ch) are there and readable. */
export async function checkRequiredPaths(options: {
  paths: string[];
  timeoutMs?: number;
}): Promise<HealthCheck> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const problems = (await Promise.all(options.paths.map((p) => probePath(p, timeoutMs)))).filter(
    (p): p is string => p !== undefined,
  );
  const good = options.paths.length - problems.length;
  const value = `${good} of ${options.paths.length} readable`;
  if (problems.length === 0)
    return checkResult('software-areas', true, `${value}: ${options.paths.join(', ')}`);
  return checkResult('software-areas', false, value, problems.join('; '));
}
