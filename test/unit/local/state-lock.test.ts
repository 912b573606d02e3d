import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireStateLock, LOCK_FILE } from '#local/state-lock.ts';

let stateDir: string;

beforeEach(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'gluon-lock-'));
});

afterEach(async () => {
  await rm(stateDir, { recursive: true, force: true });
});

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid as number;
}

describe('state dir lock', () => {
  it('writes this process id and removes the file on release', async () => {
    const lock = await acquireStateLock(stateDir);
    expect(JSON.parse(await readFile(join(stateDir, LOCK_FILE), 'utf8'))).toMatchObject({ pid: process.pid });
    await lock.release();
    await expect(readFile(join(stateDir, LOCK_FILE), 'utf8')).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses a second stack while the first holds the lock, naming its pid', async () => {
    const lock = await acquireStateLock(stateDir);
    await expect(acquireStateLock(stateDir)).rejects.toThrow(
      new RegExp(`another local stack \\(pid ${process.pid}\\) is using`),
    );
    await lock.release();
    const again = await acquireStateLock(stateDir);
    await again.release();
  });

  it('takes over a lock left by a process that died', async () => {
    const pid = await deadPid();
    await writeFile(join(stateDir, LOCK_FILE), JSON.stringify({ pid, startedAt: new Date().toISOString() }));
    const lock = await acquireStateLock(stateDir);
    expect(JSON.parse(await readFile(join(stateDir, LOCK_FILE), 'utf8'))).toMatchObject({ pid: process.pid });
    await lock.release();
  });

  it('takes over an unreadable lock file', async () => {
    await writeFile(join(stateDir, LOCK_FILE), 'garbage');
    const lock = await acquireStateLock(stateDir);
    await lock.release();
  });

  it('does not remove a lock another process took after ours was released', async () => {
    const lock = await acquireStateLock(stateDir);
    const other = await deadPid();
    // Someone replaced the file (e.g. after treating ours as stale): release must leave theirs alone.
    await writeFile(join(stateDir, LOCK_FILE), JSON.stringify({ pid: other }));
    await lock.release();
    expect(JSON.parse(await readFile(join(stateDir, LOCK_FILE), 'utf8'))).toEqual({ pid: other });
  });
});
