/**
 * Downloads one file from a presigned URL into `<path>.part`, resuming a partial `.part` with an
 * HTTP Range request, verifies its size and adler32 over the whole file, then renames it to `path`.
 * A file already at `path` that verifies is not fetched again.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat, truncate } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebStream } from 'node:stream/web';
import { Adler32, adler32File } from '#pilot/adler32.ts';
import { CliError } from './cli-error.ts';
import type { OutputStream } from './cli-io.ts';

/** What the API recorded of the file; only the given fields are checked. */
export interface ExpectedFile {
  sizeBytes?: number;
  adler32?: string;
}

/** How the file came to be complete: fetched whole, resumed from a `.part`, or already there. */
export type DownloadOutcome = 'downloaded' | 'resumed' | 'skipped';

export interface DownloadResult {
  outcome: DownloadOutcome;
  bytes: number;
  adler32: string;
}

export interface DownloadOptions {
  fetch?: typeof fetch;
  /** Called as bytes arrive (done counts the bytes of the `.part` kept from before). */
  onProgress?: (done: number, total: number | undefined) => void;
}

/**
 * Where to start, given what a `.part` holds: from 0 when there is none (or it is longer than the
 * file, so it cannot be a prefix of it), else from its end.
 */
export function resumeOffset(partBytes: number, expectedBytes: number | undefined): number {
  if (partBytes <= 0) return 0;
  if (expectedBytes !== undefined && partBytes > expectedBytes) return 0;
  return partBytes;
}

/** `bytes START-END/TOTAL` (TOTAL may be `*`), as a 206 answer carries it; undefined when malformed. */
export function parseContentRange(
  header: string | null,
): { start: number; end: number; total: number | undefined } | undefined {
  const match = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header?.trim() ?? '');
  if (match === null) return undefined;
  const [start, end] = [Number(match[1]), Number(match[2])];
  if (end < start) return undefined;
  return { start, end, total: match[3] === '*' ? undefined : Number(match[3]) };
}

/** `label  42% (4.2 MiB of 10.0 MiB)`; without a known total, just what arrived. */
export function progressText(label: string, done: number, total: number | undefined): string {
  if (total === undefined) return `${label}  ${formatBytes(done)}`;
  return `${label}  ${String(percentOf(done, total)).padStart(3)}% (${formatBytes(done)} of ${formatBytes(total)})`;
}

/** Whole percent done, 0..100. */
export function percentOf(done: number, total: number): number {
  if (total <= 0) return 100;
  return Math.min(100, Math.floor((done / total) * 100));
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

/** Problems of a complete file against what was recorded; empty when it matches. */
export function verifyProblems(actual: { bytes: number; adler32: string }, expected: ExpectedFile): string[] {
  const problems: string[] = [];
  if (expected.sizeBytes !== undefined && actual.bytes !== expected.sizeBytes)
    problems.push(`${actual.bytes} bytes, expected ${expected.sizeBytes}`);
  if (expected.adler32 !== undefined && actual.adler32 !== expected.adler32)
    problems.push(`adler32 ${actual.adler32}, expected ${expected.adler32}`);
  return problems;
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch {
    return undefined;
  }
}

/** The running adler32 of the bytes a `.part` already holds. */
async function sumOf(path: string, bytes: number): Promise<Adler32> {
  const sum = new Adler32();
  if (bytes === 0) return sum;
  for await (const chunk of createReadStream(path, { end: bytes - 1 })) sum.update(chunk as Buffer);
  return sum;
}

/**
 * Fetches the URL `url` gives (asked only when the file is not already complete) into `path`
 * (see the file comment). A checksum mismatch removes the `.part`, so the
 * next run starts afresh, and throws a CliError naming the file.
 */
export async function downloadFile(
  url: () => Promise<string>,
  path: string,
  expected: ExpectedFile,
  options: DownloadOptions = {},
): Promise<DownloadResult> {
  const doFetch = options.fetch ?? fetch;
  if ((await sizeOf(path)) !== undefined) {
    const existing = await adler32File(path);
    if (verifyProblems(existing, expected).length === 0) return { outcome: 'skipped', ...existing };
  }
  await mkdir(dirname(path), { recursive: true });
  const part = `${path}.part`;
  const partBytes = (await sizeOf(part)) ?? 0;
  let offset = resumeOffset(partBytes, expected.sizeBytes);
  if (offset !== partBytes) await truncate(part, offset);

  const response = await doFetch(await url(), offset > 0 ? { headers: { range: `bytes=${offset}-` } } : {});
  if (response.status === 416 && offset > 0) {
    // The `.part` already holds every byte: a range that starts at the end is refused.
    await response.body?.cancel();
    return finish(path, part, expected, await adler32File(part), 'resumed');
  }
  if (response.status === 206) {
    const range = parseContentRange(response.headers.get('content-range'));
    if (range === undefined || range.start !== offset) {
      await response.body?.cancel();
      throw new CliError(
        `download of ${path}: the server sent bytes from ${range?.start ?? '?'}, not ${offset}`,
      );
    }
  } else if (response.status === 200) {
    // The server ignored the range: the whole file comes again.
    offset = 0;
  } else {
    await response.body?.cancel();
    throw new CliError(`download of ${path} failed: HTTP ${response.status}`);
  }

  const sum = await sumOf(part, offset);
  let done = offset;
  const length = response.headers.get('content-length');
  const total = expected.sizeBytes ?? (length === null ? undefined : offset + Number(length));
  const onProgress = options.onProgress;
  onProgress?.(done, total);
  await pipeline(
    response.body === null ? Readable.from([]) : Readable.fromWeb(response.body as WebStream),
    async function* (source: AsyncIterable<Buffer>) {
      for await (const chunk of source) {
        sum.update(chunk);
        done += chunk.length;
        onProgress?.(done, total);
        yield chunk;
      }
    },
    createWriteStream(part, { flags: offset > 0 ? 'a' : 'w' }),
  );
  return finish(
    path,
    part,
    expected,
    { bytes: done, adler32: sum.hex() },
    offset > 0 ? 'resumed' : 'downloaded',
  );
}

async function finish(
  path: string,
  part: string,
  expected: ExpectedFile,
  actual: { bytes: number; adler32: string },
  outcome: DownloadOutcome,
): Promise<DownloadResult> {
  const problems = verifyProblems(actual, expected);
  if (problems.length > 0) {
    await rm(part, { force: true });
    throw new CliError(
      `checksum mismatch for ${path}: ${problems.join('; ')} (the partial file was removed)`,
    );
  }
  await rename(part, path);
  return { outcome, ...actual };
}

/**
 * Progress of one file on a terminal: the line is redrawn (`\r`) when its percent changes, so a
 * large file costs a few hundred writes, not one per chunk. Off a terminal it stays quiet; the
 * caller writes one closing line per file either way.
 */
export function progressPrinter(
  stream: OutputStream,
  label: string,
): (done: number, total: number | undefined) => void {
  if (stream.isTTY !== true) return () => {};
  let shown = '';
  return (done, total) => {
    const key = total === undefined ? formatBytes(done) : String(percentOf(done, total));
    if (key === shown) return;
    shown = key;
    stream.write(`\r${progressText(label, done, total)}`);
  };
}
