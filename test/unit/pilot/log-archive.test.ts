import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tarHeader, writeLogArchive } from '#pilot/log-archive.ts';

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'gluon-tar-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

/** Reads the regular files of an uncompressed ustar archive. */
function readTar(tar: Buffer): Array<{ name: string; content: string }> {
  const files: Array<{ name: string; content: string }> = [];
  let offset = 0;
  while (offset + 512 <= tar.length) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    const field = (start: number, length: number) =>
      header
        .subarray(start, start + length)
        .toString('utf8')
        .replace(/\0.*$/s, '');
    const size = Number.parseInt(field(124, 12), 8);
    const prefix = field(345, 155);
    const name = prefix === '' ? field(0, 100) : `${prefix}/${field(0, 100)}`;
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : (header[i] as number);
    expect(Number.parseInt(field(148, 8), 8)).toBe(sum);
    files.push({ name, content: tar.subarray(offset + 512, offset + 512 + size).toString('utf8') });
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}

describe('writeLogArchive', () => {
  it('writes a gzip’ed ustar archive of files and inline content', async () => {
    const log = join(root, 'payload.log');
    writeFileSync(log, 'line 1\nline 2\n'.repeat(100));
    const target = join(root, 'log.tgz');
    await writeLogArchive(target, [
      { name: 't-abc.0.a1/payload.log', path: log },
      { name: 't-abc.0.a1/metadata.json', content: '{"pilotErrorCode":0}\n' },
    ]);
    const files = readTar(gunzipSync(readFileSync(target)));
    expect(files).toEqual([
      { name: 't-abc.0.a1/payload.log', content: 'line 1\nline 2\n'.repeat(100) },
      { name: 't-abc.0.a1/metadata.json', content: '{"pilotErrorCode":0}\n' },
    ]);
  });

  it('is read by the system tar', async () => {
    const target = join(root, 'log.tgz');
    await writeLogArchive(target, [
      { name: 'job/empty.log', content: '' },
      { name: 'job/metadata.json', content: '{}\n' },
    ]);
    const listing = execFileSync('tar', ['-tzf', target], { encoding: 'utf8' });
    expect(listing.trim().split('\n')).toEqual(['job/empty.log', 'job/metadata.json']);
  });

  it('splits a long path into ustar’s prefix and name', () => {
    const long = `${'d'.repeat(120)}/metadata.json`;
    const header = tarHeader(long, 0, 0);
    expect(readTar(Buffer.concat([header, Buffer.alloc(1024)]))[0]?.name).toBe(long);
    expect(() => tarHeader('x'.repeat(300), 0, 0)).toThrow('too long');
  });
});
