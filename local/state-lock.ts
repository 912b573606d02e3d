import { readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const LOCK_FILE = 'local.lock';

export interface StateLock {
  readonly path: string;
  release(): Promise<void>;
}

/**
 * Makes sure one local stack at a time uses a state dir: `<stateDir>/local.lock` holds the pid of
 * its owner. A lock whose pid is no longer alive (a crashed stack) is taken over.
 */
export async function acquireStateLock(stateDir: string): Promise<StateLock> {
  const path = join(stateDir, LOCK_FILE);
  const content = `${JSON.stringify({ pid: process.pid, startedAt: new Date().toISOString() })}\n`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await writeFile(path, content, { flag: 'wx', mode: 0o600 });
      return lock(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    // A lock just created by another starter may not hold its pid yet: look twice.
    const owner = (await readOwner(path)) ?? (await delay(200).then(() => readOwner(path)));
    if (owner !== undefined && isAlive(owner)) {
      throw new Error(
        `another local stack (pid ${owner}) is using ${stateDir}; stop it first (Ctrl-C in its terminal, or kill ${owner}), or choose another --state-dir`,
      );
    }
    // Stale: its owner is gone. Remove it and try again (another starter may win the race).
    await unlink(path).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
  }
  throw new Error(`cannot take the lock ${path}: other stacks keep starting on ${stateDir}`);
}

function lock(path: string): StateLock {
  let released = false;
  return {
    path,
    async release() {
      if (released) return;
      released = true;
      const owner = await readOwner(path);
      if (owner === process.pid) await unlink(path).catch(() => {});
    },
  };
}

async function readOwner(path: string): Promise<number | undefined> {
  try {
    const parsed = JSON.parse(await readFile(path, 'utf8')) as { pid?: unknown };
    return typeof parsed.pid === 'number' ? parsed.pid : undefined;
  } catch {
    // Unreadable or half-written: treat as stale.
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
