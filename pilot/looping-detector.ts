/**
 * The looping-job detector (PanDA pilot3's "looping job" check): a payload that has written no
 * output and touched no file of its work directory for `loopingSec` is taken to be stuck.
 * Activity is judged by change only (more output bytes, a newer mtime than seen before), so
 * a file server whose clock differs from ours does not matter.
 */
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** Most entries looked at in one scan of a work directory (a payload may write many files). */
const MAX_ENTRIES = 10_000;

/** The newest modification time (ms) of a directory tree, the directories included; symlinks are not followed. */
export async function newestMtimeMs(root: string, maxEntries = MAX_ENTRIES): Promise<number> {
  let newest = 0;
  let seen = 0;
  const stack = [root];
  while (stack.length > 0 && seen < maxEntries) {
    const dir = stack.pop() as string;
    let names: string[];
    try {
      newest = Math.max(newest, (await lstat(dir)).mtimeMs);
      names = await readdir(dir);
    } catch {
      continue; // removed meanwhile, or not readable
    }
    for (const name of names) {
      if (++seen > maxEntries) break;
      const path = join(dir, name);
      try {
        const info = await lstat(path);
        if (info.isDirectory()) stack.push(path);
        else newest = Math.max(newest, info.mtimeMs);
      } catch {
        // removed meanwhile
      }
    }
  }
  return newest;
}

export class LoopingDetector {
  private readonly loopingMs: number;
  private readonly now: () => number;
  private lastOutputBytes: number;
  private lastMtimeMs: number;
  private lastActivityAt: number;

  /** `initialMtimeMs`: the work directory's newest mtime before the payload started (staged files are no activity). */
  constructor(options: { loopingSec: number; now?: () => number; initialMtimeMs?: number }) {
    this.loopingMs = options.loopingSec * 1000;
    this.now = options.now ?? Date.now;
    this.lastActivityAt = this.now();
    this.lastOutputBytes = 0;
    this.lastMtimeMs = options.initialMtimeMs ?? 0;
  }

  /** Records what a check saw; true when there was no activity for the looping limit. */
  observe(outputBytes: number, newestMtimeMs: number): boolean {
    const now = this.now();
    if (outputBytes !== this.lastOutputBytes || newestMtimeMs > this.lastMtimeMs) {
      this.lastActivityAt = now;
      this.lastOutputBytes = outputBytes;
      this.lastMtimeMs = Math.max(this.lastMtimeMs, newestMtimeMs);
    }
    return now - this.lastActivityAt >= this.loopingMs;
  }

  /** Seconds since the last activity seen. */
  idleSec(): number {
    return (this.now() - this.lastActivityAt) / 1000;
  }
}
