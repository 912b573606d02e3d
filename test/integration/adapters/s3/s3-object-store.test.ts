import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { s3Client } from '#adapters/aws-clients.ts';
import { ensureBucket, S3ObjectStore } from '#adapters/s3/s3-object-store.ts';
import { uniquePrefix, useStandInsEnv } from '#test/support/stand-ins-env.ts';

let restoreEnv: () => void;
let client: S3Client;
let bucket: string;

beforeAll(() => {
  restoreEnv = useStandInsEnv();
  client = s3Client();
  bucket = `${uniquePrefix('it-s3-')}bucket`;
});

afterAll(() => {
  client?.destroy();
  restoreEnv?.();
});

describe('S3ObjectStore', () => {
  it('creates its bucket idempotently', async () => {
    await ensureBucket(client, bucket);
    await ensureBucket(client, bucket);
  });

  it('presigns a PUT that uploads the object', async () => {
    await ensureBucket(client, bucket);
    const store = new S3ObjectStore(client, bucket);
    expect(store.bucket).toBe(bucket);
    const key = 'sandbox/alice/run.sh';
    const url = await store.presignPut(key, 300);
    const parsed = new URL(url);
    expect(parsed.hostname).toBe('127.0.0.1');
    expect(parsed.pathname).toBe(`/${bucket}/sandbox/alice/run.sh`);
    expect(parsed.searchParams.get('X-Amz-Expires')).toBe('300');
    // No checksum of an empty body signed into the URL: real S3 would refuse every upload.
    expect([...parsed.searchParams.keys()].filter((k) => k.toLowerCase().includes('checksum'))).toEqual([]);

    const body = '#!/bin/sh\necho hello\n';
    const put = await fetch(url, { method: 'PUT', body });
    expect(put.status).toBe(200);
    const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    expect(await got.Body?.transformToString()).toBe(body);
  });

  it('presigns a GET that downloads the object, and a part of it with a Range', async () => {
    await ensureBucket(client, bucket);
    const store = new S3ObjectStore(client, bucket);
    const key = 'tasks/t-0123456789/jobs/0/attempt-1/out.txt';
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'hello, results\n' }));
    const url = await store.presignGet(key, 600);
    const parsed = new URL(url);
    expect(parsed.hostname).toBe('127.0.0.1');
    expect(parsed.pathname).toBe(`/${bucket}/${key}`);
    expect(parsed.searchParams.get('X-Amz-Expires')).toBe('600');
    const whole = await fetch(url);
    expect([whole.status, await whole.text()]).toEqual([200, 'hello, results\n']);
    const tail = await fetch(url, { headers: { range: 'bytes=7-' } });
    expect([tail.status, await tail.text()]).toEqual([206, 'results\n']);
  });
});
