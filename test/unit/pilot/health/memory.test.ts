import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  availableMemoryMB,
  checkMemory,
  type MemoryPaths,
  parseMemAvailableMB,
} from '#pilot/health/memory.ts';

let root: string;
let paths: MemoryPaths;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'gluon-mem-'));
  paths = { meminfo: join(root, 'meminfo'), selfCgroup: join(root, 'cgroup'), cgroupRoot: join(root, 'sys') };
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const meminfo = (availableKB: number) =>
  `MemTotal:       16000000 kB\nMemFree:         1000000 kB\nMemAvailable:   ${availableKB} kB\nBuffers:          100 kB\n`;

describe('parseMemAvailableMB', () => {
  it('reads MemAvailable, or MemFree+Buffers+Cached on old kernels', () => {
    expect(parseMemAvailableMB(meminfo(8 * 1024 * 1024))).toBe(8192);
    expect(parseMemAvailableMB('MemFree: 1048576 kB\nBuffers: 524288 kB\nCached: 524288 kB\n')).toBe(2048);
    expect(parseMemAvailableMB('nothing here')).toBeUndefined();
  });
});

describe('checkMemory', () => {
  it('passes when MemAvailable covers the advertised memory', async () => {
    writeFileSync(paths.meminfo, meminfo(8 * 1024 * 1024));
    const check = await checkMemory({ advertisedMB: 8000, paths });
    expect(check).toMatchObject({ name: 'memory', ok: true });
    expect(check.value).toBe('8.0 GB available, 7.8 GB advertised');
  });

  it('fails when much less is available than advertised', async () => {
    writeFileSync(paths.meminfo, meminfo(2 * 1024 * 1024));
    const check = await checkMemory({ advertisedMB: 4000, paths });
    expect(check.ok).toBe(false);
    expect(check.message).toContain('--memory-mb 4000');
  });

  it('keeps 10 % slack for the pilot itself', async () => {
    writeFileSync(paths.meminfo, meminfo(3700 * 1024));
    expect((await checkMemory({ advertisedMB: 4000, paths })).ok).toBe(true);
    writeFileSync(paths.meminfo, meminfo(3500 * 1024));
    expect((await checkMemory({ advertisedMB: 4000, paths })).ok).toBe(false);
  });

  it('takes a cgroup v2 limit into account (a batch job’s allocation)', async () => {
    writeFileSync(paths.meminfo, meminfo(64 * 1024 * 1024));
    writeFileSync(paths.selfCgroup, '0::/slurm/job_42\n');
    mkdirSync(join(paths.cgroupRoot, 'slurm/job_42'), { recursive: true });
    writeFileSync(join(paths.cgroupRoot, 'slurm/job_42/memory.max'), `${4 * 2 ** 30}\n`);
    writeFileSync(join(paths.cgroupRoot, 'slurm/job_42/memory.current'), `${2 ** 30}\n`);
    expect(availableMemoryMB(paths)).toEqual({
      availableMB: 3072,
      memAvailableMB: 65536,
      cgroupLimitMB: 4096,
      cgroupUsedMB: 1024,
    });
    const check = await checkMemory({ advertisedMB: 8000, paths });
    expect(check.ok).toBe(false);
    expect(check.value).toContain('cgroup limit 4.0 GB');
  });

  it('ignores an unlimited cgroup ("max") and reads cgroup v1', () => {
    writeFileSync(paths.meminfo, meminfo(8 * 1024 * 1024));
    writeFileSync(paths.selfCgroup, '0::/\n');
    writeFileSync(join(root, 'memory.max'), 'max\n');
    expect(availableMemoryMB({ ...paths, cgroupRoot: root }).cgroupLimitMB).toBeUndefined();

    writeFileSync(paths.selfCgroup, '5:cpu,cpuacct:/x\n4:memory:/batch/7\n');
    mkdirSync(join(paths.cgroupRoot, 'memory/batch/7'), { recursive: true });
    writeFileSync(join(paths.cgroupRoot, 'memory/batch/7/memory.limit_in_bytes'), `${2 * 2 ** 30}\n`);
    writeFileSync(join(paths.cgroupRoot, 'memory/batch/7/memory.usage_in_bytes'), '0\n');
    expect(availableMemoryMB(paths).availableMB).toBe(2048);
  });
});
