/**
 * The log tarball of a job attempt (`log.tgz`, as PanDA pilots leave one per job): a gzip'ed POSIX
 * ustar archive written here without any tool, holding `<jobDir>/payload.log` (when the payload
 * wrote one) and `<jobDir>/metadata.json` (what the pilot knows of the attempt).
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';

const BLOCK = 512;

export interface ArchiveEntry {
  /** Path inside the archive (`dir/file`). */
  name: string;
  /** A file to copy in, or the content itself. */
  path?: string;
  content?: string | Buffer;
  mtimeMs?: number;
}

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

/** Splits a long path into ustar's prefix (≤155) and name (≤100) at a slash. */
function splitName(path: string): { prefix: string; name: string } {
  if (Buffer.byteLength(path) <= 100) return { prefix: '', name: path };
  for (let i = path.indexOf('/'); i >= 0; i = path.indexOf('/', i + 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100) return { prefix, name };
  }
  throw new Error(`path too long for a tar header: ${path}`);
}

/** One 512-byte ustar header of a regular file. */
export function tarHeader(path: string, size: number, mtimeSec: number, mode = 0o644): Buffer {
  const header = Buffer.alloc(BLOCK, 0);
  const { prefix, name } = splitName(path);
  header.write(name, 0, 100, 'utf8');
  header.write(octal(mode, 8), 100, 8, 'ascii');
  header.write(octal(0, 8), 108, 8, 'ascii'); // uid
  header.write(octal(0, 8), 116, 8, 'ascii'); // gid
  header.write(octal(size, 12), 124, 12, 'ascii');
  header.write(octal(Math.floor(mtimeSec), 12), 136, 12, 'ascii');
  header.write('        ', 148, 8, 'ascii'); // checksum field counts as spaces while summing
  header.write('0', 156, 1, 'ascii'); // regular file
  header.write('ustar\0', 257, 6, 'ascii');
  header.write('00', 263, 2, 'ascii');
  header.write('gluon', 265, 32, 'ascii'); // uname
  header.write('gluon', 297, 32, 'ascii'); // gname
  header.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return header;
}

function padding(size: number): Buffer {
  const rest = size % BLOCK;
  return Buffer.alloc(rest === 0 ? 0 : BLOCK - rest, 0);
}

async function* tarStream(entries: ArchiveEntry[]): AsyncGenerator<Buffer> {
  for (const entry of entries) {
    if (entry.path !== undefined) {
      const info = await stat(entry.path);
      // The size is fixed by the header: copy exactly that many bytes even if the file grows.
      const size = info.size;
      yield tarHeader(entry.name, size, (entry.mtimeMs ?? info.mtimeMs) / 1000);
      let copied = 0;
      if (size > 0) {
        for await (const chunk of createReadStream(entry.path, { start: 0, end: size - 1 })) {
          copied += (chunk as Buffer).length;
          yield chunk as Buffer;
        }
      }
      if (copied < size) yield Buffer.alloc(size - copied, 0); // the file shrank meanwhile
      yield padding(size);
    } else {
      const content =
        typeof entry.content === 'string' ? Buffer.from(entry.content) : (entry.content ?? Buffer.alloc(0));
      yield tarHeader(entry.name, content.length, (entry.mtimeMs ?? Date.now()) / 1000);
      yield content;
      yield padding(content.length);
    }
  }
  yield Buffer.alloc(2 * BLOCK, 0); // end of archive
}

/** Writes `entries` as a .tar.gz to `target`. */
export async function writeLogArchive(target: string, entries: ArchiveEntry[]): Promise<void> {
  await pipeline(tarStream(entries), createGzip(), createWriteStream(target));
}
