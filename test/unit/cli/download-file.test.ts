import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CliError } from '#cli/cli-error.ts';
import {
  downloadFile,
  type ExpectedFile,
  parseContentRange,
  percentOf,
  progressPrinter,
  progressText,
  resumeOffset,
  verifyProblems,
} from '#cli/download-file.ts';
import { adler32 } from '#pilot/adler32.ts';

describe('resumeOffset', () => {
  it.each([
    { part: 0, size: 100, from: 0, why: 'no .part: from the start' },
    { part: 40, size: 100, from: 40, why: 'a .part: from its end' },
    { part: 100, size: 100, from: 100, why: 'a complete .part: from its end (the server says 416)' },
    { part: 140, size: 100, from: 0, why: 'a .part longer than the file: not a prefix of it, start again' },
    { part: 40, size: undefined, from: 40, why: 'no recorded size: trust the .part' },
  ])('$why', ({ part, size, from }) => {
    expect(resumeOffset(part, size)).toBe(from);
  });
});

describe('parseContentRange', () => {
  it.each([
    { header: 'bytes 40-99/100', range: { start: 40, end: 99, total: 100 } },
    { header: 'bytes 0-0/*', range: { start: 0, end: 0, total: undefined } },
    { header: 'bytes 50-40/100', range: undefined },
    { header: 'bytes */100', range: undefined },
    { header: 'items 1-2/3', range: undefined },
    { header: null, range: undefined },
  ])('reads $header', ({ header, range }) => {
    expect(parseContentRange(header)).toEqual(range);
  });
});

describe('progress', () => {
  it.each([
    { done: 0, total: 2048, text: 'out.root    0% (0 B of 2.0 KiB)' },
    { done: 1024, total: 2048, text: 'out.root   50% (1.0 KiB of 2.0 KiB)' },
    { done: 5 * 1024 ** 3, total: 10 * 1024 ** 3, text: 'out.root   50% (5.0 GiB of 10.0 GiB)' },
    { done: 0, total: 0, text: 'out.root  100% (0 B of 0 B)' },
    { done: 3 * 1024 ** 2, total: undefined, text: 'out.root  3.0 MiB' },
  ])('shows $done of $total as "$text"', ({ done, total, text }) => {
    expect(progressText('out.root', done, total)).toBe(text);
  });

  it.each([
    [0, 100, 0],
    [99, 100, 99],
    [100, 100, 100],
    [150, 100, 100],
  ])('%i of %i is %i%%', (done, total, percent) => {
    expect(percentOf(done, total)).toBe(percent);
  });

  it('redraws a terminal line only when the percent changes, and writes nothing off a terminal', () => {
    const written: string[] = [];
    const tty = progressPrinter({ write: (t: string) => written.push(t), isTTY: true }, 'f');
    for (let done = 0; done <= 1000; done += 1) tty(done, 1000);
    expect(written).toHaveLength(101);
    expect(written.at(-1)).toBe('\rf  100% (1000 B of 1000 B)');
    const quiet: string[] = [];
    const pipe = progressPrinter({ write: (t: string) => quiet.push(t) }, 'f');
    pipe(500, 1000);
    expect(quiet).toEqual([]);
  });
});

describe('verifyProblems', () => {
  it.each([
    { expected: {}, problems: [] },
    { expected: { sizeBytes: 5, adler32: '062c0215' }, problems: [] },
    { expected: { sizeBytes: 6 }, problems: ['5 bytes, expected 6'] },
    { expected: { adler32: '00000001' }, problems: ['adler32 062c0215, expected 00000001'] },
  ])('checks only what was recorded: $expected', ({ expected, problems }) => {
    expect(verifyProblems({ bytes: 5, adler32: adler32('hello') }, expected)).toEqual(problems);
  });
});

const CONTENT = Buffer.from(Array.from({ length: 10_000 }, (_, i) => (i * 7) % 251));
const EXPECTED: ExpectedFile = { sizeBytes: CONTENT.length, adler32: adler32(CONTENT) };

/** A fetch that serves `content` as S3 does (206 for a range, 416 past the end), or ignores ranges. */
function fakeFetch(content: Buffer, options: { ignoreRange?: boolean } = {}) {
  const ranges: Array<string | undefined> = [];
  const doFetch = (async (_url: string, init?: RequestInit) => {
    const range = (init?.headers as Record<string, string> | undefined)?.range;
    ranges.push(range);
    const from =
      range === undefined || options.ignoreRange ? undefined : Number(/^bytes=(\d+)-$/.exec(range)?.[1]);
    if (from === undefined) return new Response(content, { status: 200 });
    if (from >= content.length)
      return new Response(null, { status: 416, headers: { 'content-range': `bytes */${content.length}` } });
    return new Response(content.subarray(from), {
      status: 206,
      headers: { 'content-range': `bytes ${from}-${content.length - 1}/${content.length}` },
    });
  }) as typeof fetch;
  return { doFetch, ranges };
}

function target(): string {
  return join(mkdtempSync(join(tmpdir(), 'gluon-download-')), '0', 'out.bin');
}

describe('downloadFile', () => {
  it.each([
    { what: 'no .part', part: undefined, ignoreRange: false, outcome: 'downloaded', range: undefined },
    {
      what: 'a .part of 4000 bytes',
      part: 4000,
      ignoreRange: false,
      outcome: 'resumed',
      range: 'bytes=4000-',
    },
    { what: 'a complete .part', part: 10_000, ignoreRange: false, outcome: 'resumed', range: 'bytes=10000-' },
    {
      what: 'a .part longer than the file',
      part: 12_000,
      ignoreRange: false,
      outcome: 'downloaded',
      range: undefined,
    },
    {
      what: 'a server that ignores the range',
      part: 4000,
      ignoreRange: true,
      outcome: 'downloaded',
      range: 'bytes=4000-',
    },
  ])('completes the file from $what', async ({ part, ignoreRange, outcome, range }) => {
    const path = target();
    if (part !== undefined) {
      mkdirSync(join(path, '..'), { recursive: true });
      const prefix = Buffer.concat([CONTENT, Buffer.alloc(2000, 9)]).subarray(0, part);
      writeFileSync(`${path}.part`, prefix);
    }
    const { doFetch, ranges } = fakeFetch(CONTENT, { ignoreRange });
    const progress: number[] = [];
    const result = await downloadFile(async () => 'https://s3.test/out.bin', path, EXPECTED, {
      fetch: doFetch,
      onProgress: (done) => progress.push(done),
    });
    expect(result).toEqual({ outcome, bytes: CONTENT.length, adler32: EXPECTED.adler32 });
    expect(ranges).toEqual([range]);
    expect(readFileSync(path).equals(CONTENT)).toBe(true);
    expect(existsSync(`${path}.part`)).toBe(false);
    if (progress.length > 0) expect(progress.at(-1)).toBe(CONTENT.length);
  });

  it('skips a file already complete and verified without asking for a URL', async () => {
    const path = target();
    const first = fakeFetch(CONTENT);
    await downloadFile(async () => 'u', path, EXPECTED, { fetch: first.doFetch });
    let asked = false;
    const again = await downloadFile(
      async () => {
        asked = true;
        return 'u';
      },
      path,
      EXPECTED,
      { fetch: first.doFetch },
    );
    expect(again.outcome).toBe('skipped');
    expect(asked).toBe(false);
  });

  it('fails naming the file on a checksum mismatch, and removes the .part', async () => {
    const path = target();
    const corrupt = Buffer.from(CONTENT);
    corrupt[123] = (corrupt[123] ?? 0) ^ 0xff;
    const answer = downloadFile(async () => 'u', path, EXPECTED, { fetch: fakeFetch(corrupt).doFetch });
    await expect(answer).rejects.toBeInstanceOf(CliError);
    await expect(answer).rejects.toThrow(`checksum mismatch for ${path}: adler32`);
    expect(existsSync(`${path}.part`)).toBe(false);
    expect(existsSync(path)).toBe(false);
  });

  it('fails naming the file when the URL answers an error', async () => {
    const path = target();
    const doFetch = (async () => new Response('denied', { status: 403 })) as typeof fetch;
    await expect(downloadFile(async () => 'u', path, EXPECTED, { fetch: doFetch })).rejects.toThrow(
      `download of ${path} failed: HTTP 403`,
    );
  });
});
