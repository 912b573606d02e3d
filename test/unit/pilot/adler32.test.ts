import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Adler32, adler32, adler32File } from '#pilot/adler32.ts';

describe('adler32', () => {
  it('matches known vectors', () => {
    expect(adler32('Wikipedia')).toBe('11e60398');
    expect(adler32('')).toBe('00000001');
    expect(adler32('a')).toBe('00620062');
    expect(adler32('abc')).toBe('024d0127');
    expect(adler32('message digest')).toBe('29750586');
    expect(adler32('abcdefghijklmnopqrstuvwxyz')).toBe('90860b20');
  });

  it('reduces the sums correctly over long inputs of large bytes', () => {
    // 1 MiB of 0xff exercises the modulo reduction; value computed with zlib.adler32.
    expect(adler32(Buffer.alloc(1 << 20, 0xff))).toBe('8e88ef11');
  });

  it('gives the same sum when fed in pieces', () => {
    const data = Buffer.from('The quick brown fox jumps over the lazy dog'.repeat(500));
    const pieces = new Adler32();
    for (let i = 0; i < data.length; i += 777) pieces.update(data.subarray(i, i + 777));
    expect(pieces.hex()).toBe(adler32(data));
  });

  it('sums a file and counts its bytes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gluon-adler-'));
    try {
      const file = join(dir, 'f');
      writeFileSync(file, 'Wikipedia');
      await expect(adler32File(file)).resolves.toEqual({ adler32: '11e60398', bytes: 9 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
