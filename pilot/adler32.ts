import { createReadStream } from 'node:fs';
import { Adler32 } from '#core/storage/adler32.ts';

// The running checksum lives in core (the transfer service verifies copies with it too).
export { Adler32 };

/** Adler-32 of a buffer or string (UTF-8), as 8 lower-case hex digits. */
export function adler32(data: Uint8Array | string): string {
  return new Adler32().update(typeof data === 'string' ? Buffer.from(data, 'utf8') : data).hex();
}

/** Adler-32 and size of a file, read as a stream. */
export async function adler32File(path: string): Promise<{ adler32: string; bytes: number }> {
  const sum = new Adler32();
  let bytes = 0;
  for await (const chunk of createReadStream(path)) {
    const buffer = chunk as Buffer;
    sum.update(buffer);
    bytes += buffer.length;
  }
  return { adler32: sum.hex(), bytes };
}
