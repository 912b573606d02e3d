import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkRequiredPaths } from '#pilot/health/required-paths.ts';

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'gluon-paths-'));
});
afterEach(() => {
  chmodSync(root, 0o755);
  rmSync(root, { recursive: true, force: true });
});

describe('checkRequiredPaths', () => {
  it('passes when every path exists and is readable', async () => {
    mkdirSync(join(root, 'cvmfs/atlas.cern.ch'), { recursive: true });
    writeFileSync(join(root, 'cvmfs/atlas.cern.ch/setup.sh'), 'echo');
    const paths = [join(root, 'cvmfs/atlas.cern.ch'), join(root, 'cvmfs/atlas.cern.ch/setup.sh')];
    const check = await checkRequiredPaths({ paths });
    expect(check).toMatchObject({ name: 'software-areas', ok: true });
    expect(check.value).toContain('2 of 2 readable');
  });

  it('fails naming each missing path', async () => {
    mkdirSync(join(root, 'present'));
    const check = await checkRequiredPaths({
      paths: [join(root, 'present'), join(root, 'missing-a'), join(root, 'missing-b')],
    });
    expect(check.ok).toBe(false);
    expect(check.value).toBe('1 of 3 readable');
    expect(check.message).toBe(
      `${join(root, 'missing-a')}: not found; ${join(root, 'missing-b')}: not found`,
    );
  });
});
