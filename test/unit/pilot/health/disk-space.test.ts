import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkDiskSpace, freeDiskMB } from '#pilot/health/disk-space.ts';

const fakeStatfs = (freeMB: number) => async () => ({ bavail: freeMB * 256, bsize: 4096 });

describe('checkDiskSpace', () => {
  it('passes with enough free space and shows it', async () => {
    const check = await checkDiskSpace({ path: '/work', minFreeMB: 2048, statfs: fakeStatfs(5 * 1024) });
    expect(check).toEqual({ name: 'disk', ok: true, value: '5.0 GB free in /work' });
  });

  it('fails under the threshold naming the option', async () => {
    const check = await checkDiskSpace({ path: '/work', minFreeMB: 2048, statfs: fakeStatfs(1500) });
    expect(check.ok).toBe(false);
    expect(check.value).toBe('1.5 GB free in /work');
    expect(check.message).toContain('--min-free-disk-mb');
  });

  it('reads a real file system with statfs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gluon-disk-'));
    try {
      expect(await freeDiskMB(dir)).toBeGreaterThan(0);
      await expect(freeDiskMB(join(dir, 'missing'))).rejects.toThrow();
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});
