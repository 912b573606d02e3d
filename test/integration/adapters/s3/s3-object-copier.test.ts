import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { s3Client } from '#adapters/aws-clients.ts';
import { MIN_PART_BYTES, S3ObjectCopier } from '#adapters/s3/s3-object-copier.ts';
import { ensureBucket } from '#adapters/s3/s3-object-store.ts';
import { adler32 } from '#pilot/adler32.ts';
import { uniquePrefix, useStandInsEnv } from '#test/support/stand-ins-env.ts';

let restoreEnv: () => void;
let client: S3Client;
let source: string;
let destination: string;

beforeAll(async () => {
  restoreEnv = useStandInsEnv();
  client = s3Client({ requestTimeoutMs: 30_000 });
  const prefix = uniquePrefix('it-copy-');
  source = `${prefix}a`;
  destination = `${prefix}b`;
  await Promise.all([ensureBucket(client, source), ensureBucket(client, destination)]);
});

afterAll(() => {
  client?.destroy();
  restoreEnv?.();
});

async function read(bucket: string, key: string): Promise<Buffer> {
  const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(
    await (out.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
  );
}

describe('S3ObjectCopier', () => {
  it('copies an object between buckets in one CopyObject and reads it back with its adler32', async () => {
    const body = Buffer.from('Z->mumu events\n'.repeat(100));
    await client.send(new PutObjectCommand({ Bucket: source, Key: 'data/f1.root', Body: body }));
    const copier = new S3ObjectCopier(client);
    await copier.copy(
      { bucket: source, key: 'data/f1.root' },
      { bucket: destination, key: 'user.a/f1.root' },
      body.length,
    );
    expect(await read(destination, 'user.a/f1.root')).toEqual(body);
    expect(await copier.checksum({ bucket: destination, key: 'user.a/f1.root' })).toEqual({
      bytes: body.length,
      adler32: adler32(body),
    });
  });

  it('copies in parts (UploadPartCopy with byte ranges) above the threshold, the bytes in order', async () => {
    // Three parts: two of S3's 5 MiB minimum and a last one of 0.5 MiB (fauxqs takes at most 11 MiB a request).
    const bytes = 2 * MIN_PART_BYTES + 512 * 1024;
    const body = Buffer.alloc(bytes);
    for (let i = 0; i < bytes; i++) body[i] = (i * 31 + (i >> 13)) & 0xff;
    await client.send(new PutObjectCommand({ Bucket: source, Key: 'big.bin', Body: body }));
    const copier = new S3ObjectCopier(client, { multipartThresholdBytes: 1024, partBytes: MIN_PART_BYTES });
    expect(copier.partRanges(bytes)).toEqual([
      { partNumber: 1, first: 0, last: MIN_PART_BYTES - 1 },
      { partNumber: 2, first: MIN_PART_BYTES, last: 2 * MIN_PART_BYTES - 1 },
      { partNumber: 3, first: 2 * MIN_PART_BYTES, last: bytes - 1 },
    ]);
    await copier.copy(
      { bucket: source, key: 'big.bin' },
      { bucket: destination, key: 'big-copy.bin' },
      bytes,
    );
    const copied = await read(destination, 'big-copy.bin');
    expect(copied.length).toBe(bytes);
    expect(copied.equals(body)).toBe(true);
    expect(await copier.checksum({ bucket: destination, key: 'big-copy.bin' })).toEqual({
      bytes,
      adler32: adler32(body),
    });
  });

  it('answers undefined for the checksum of a missing object, and removes objects', async () => {
    const copier = new S3ObjectCopier(client);
    expect(await copier.checksum({ bucket: destination, key: 'nothing-here' })).toBeUndefined();
    await client.send(new PutObjectCommand({ Bucket: destination, Key: 'gone.txt', Body: 'x' }));
    await copier.remove({ bucket: destination, key: 'gone.txt' });
    expect(await copier.checksum({ bucket: destination, key: 'gone.txt' })).toBeUndefined();
  });

  it('refuses a copy from a missing source, and a part size under S3 minimum', async () => {
    const copier = new S3ObjectCopier(client);
    await expect(
      copier.copy({ bucket: source, key: 'missing' }, { bucket: destination, key: 'x' }, 10),
    ).rejects.toThrow();
    expect(() => new S3ObjectCopier(client, { partBytes: 1024 })).toThrow(/minimum part/);
  });
});
