import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { archName, countGpus, osName, readNodeInfo } from '#pilot/node-info.ts';

describe('node info', () => {
  it('maps Node’s architecture names to uname -m names', () => {
    expect(archName('x64')).toBe('x86_64');
    expect(archName('arm64')).toBe('aarch64');
    expect(archName('riscv64')).toBe('riscv64');
  });

  it('names the OS from os-release', () => {
    expect(osName('NAME="AlmaLinux"\nID="almalinux"\nVERSION_ID="9.4"\n', 'linux')).toBe(
      'linux almalinux 9.4',
    );
    expect(osName('ID=debian\nVERSION_ID="12"\n', 'linux')).toBe('linux debian 12');
    expect(osName('ID=arch\n', 'linux')).toBe('linux arch');
    expect(osName(undefined, 'linux')).toBe('linux');
  });

  it('counts NVIDIA GPUs from /dev, else from the driver’s /proc entries', () => {
    const root = mkdtempSync(join(tmpdir(), 'gluon-gpu-'));
    try {
      const dev = join(root, 'dev');
      const proc = join(root, 'gpus');
      mkdirSync(dev);
      for (const name of ['nvidia0', 'nvidia1', 'nvidiactl', 'nvidia-uvm', 'null'])
        writeFileSync(join(dev, name), '');
      expect(countGpus({ dev, nvidiaProc: proc })).toBe(2);
      const emptyDev = join(root, 'empty');
      mkdirSync(emptyDev);
      expect(countGpus({ dev: emptyDev, nvidiaProc: proc })).toBe(0);
      mkdirSync(join(proc, '0000:3b:00.0'), { recursive: true });
      expect(countGpus({ dev: emptyDev, nvidiaProc: proc })).toBe(1);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('reads this machine', () => {
    const info = readNodeInfo();
    expect(info.arch).toMatch(/^(x86_64|aarch64|\w+)$/);
    expect(info.os.startsWith(process.platform)).toBe(true);
    expect(info.gpus).toBeGreaterThanOrEqual(0);
  });
});
