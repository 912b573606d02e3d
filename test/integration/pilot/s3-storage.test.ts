import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { s3Client } from '#adapters/aws-clients.ts';
import { ensureBucket } from '#adapters/s3/s3-object-store.ts';
import { adler32 } from '#pilot/adler32.ts';
import { MIN_PART_BYTES, S3Storage } from '#pilot/s3-storage.ts';
import { uniquePrefix, useStandInsEnv } from '#test/support/stand-ins-env.ts';

/** Stage-out against fauxqs's S3, which enforces S3's 5 MiB minimum for every part but the last. */
let restoreEnv: () => void;
let client: S3Client;
let bucket: string;
let dir: string;

beforeAll(async () => {
  restoreEnv = useStandInsEnv();
  client = s3Client();
  bucket = `${uniquePrefix('it-stage-out-')}bucket`;
  await ensureBucket(client, bucket);
  dir = mkdtempSync(join(tmpdir(), 'gluon-stage-out-'));
});

afterAll(() => {
  client?.destroy();
  restoreEnv?.();
  rmSync(dir, { recursive: true, force: true });
});

function fileOf(name: string, bytes: number): { path: string; content: Buffer } {
  const content = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) content[i] = (i * 31 + (i >> 12)) % 256;
  const path = join(dir, name);
  writeFileSync(path, content);
  return { path, content };
}

describe('S3Storage.uploadFile', () => {
  it.each([
    { what: 'above the threshold in parts', bytes: 2 * MIN_PART_BYTES + 12_345, parts: '-3' },
    { what: 'at the threshold in one PUT', bytes: MIN_PART_BYTES, parts: undefined },
  ])('uploads a file $what, byte for byte with its adler32 as metadata', async ({ bytes, parts }) => {
    const storage = new S3Storage(client, bucket, {
      multipartThresholdBytes: MIN_PART_BYTES,
      partSizeBytes: MIN_PART_BYTES,
    });
    const { path, content } = fileOf(`out-${bytes}.root`, bytes);
    const key = `tasks/t-0123456789/jobs/0/attempt-1/out-${bytes}.root`;
    const sum = adler32(content);
    await storage.uploadFile(key, path, 'application/octet-stream', { adler32: sum });

    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    expect(head.ContentLength).toBe(bytes);
    expect(head.Metadata).toEqual({ adler32: sum });
    // A multipart object's ETag ends in -<number of parts>; a single PUT's does not.
    const suffix = /-(\d+)"?$/.exec(head.ETag ?? '')?.[0]?.replace('"', '');
    expect(suffix).toBe(parts);
    const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    expect(Buffer.from(await (got.Body?.transformToByteArray() ?? new Uint8Array())).equals(content)).toBe(
      true,
    );
  });
});
