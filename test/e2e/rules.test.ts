import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '#local/stack.ts';
import { adler32 } from '#pilot/adler32.ts';
import { Api, s3For, startTestStack, waitFor } from '#test/support/e2e.ts';

/**
 * A rule on the local stack: two buckets of fauxqs as two endpoints; `POST /catalog/rules` queues
 * the transfers, the stack's queue poller hands them to transfer-files, and the rule ends ok with
 * the copy byte for byte in the second bucket.
 */
let stack: LocalStack;
let api: Api;
let s3: S3Client;
const BODY = Buffer.from('Z -> mu mu, 1000 events\n'.repeat(30));
const DATASET = 'user.local-user:rules-e2e';

beforeAll(async () => {
  stack = await startTestStack('rules', { pilots: 1, inMemory: true });
  api = new Api(stack.apiUrl, stack.userToken);
  s3 = s3For(stack);
  const admin = new Api(stack.apiUrl, await stack.mintToken({ sub: 'ops', scopes: ['gluon.admin'] }));
  for (const [id, bucket] of [
    ['DATA-A', 'rules-e2e-a'],
    ['DATA-B', 'rules-e2e-b'],
  ] as const) {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await admin.client.call('putEndpoint', {
      params: { endpointId: id },
      body: { kind: 's3', bucket, prefix: 'disk/' },
    });
  }
  await s3.send(new PutObjectCommand({ Bucket: 'rules-e2e-a', Key: 'disk/f1.root', Body: BODY }));
  await api.client.call('createDataset', { body: { dataset: DATASET } });
  await api.client.call('registerFiles', {
    body: {
      dataset: DATASET,
      endpoint: 'DATA-A',
      files: [{ name: 'f1.root', bytes: BODY.length, adler32: adler32(BODY), key: 'f1.root' }],
    },
  });
}, 120_000);

afterAll(async () => {
  s3?.destroy();
  await stack?.stop();
});

describe('replication rules on the local stack', () => {
  it('copies the dataset to the second endpoint and the rule ends ok', async () => {
    const rule = await api.client.call('addRule', {
      body: { did: DATASET, copies: 1, endpoints: ['DATA-B'] },
    });
    expect(rule.counters).toEqual({ files: 1, available: 0, copying: 1, failed: 0 });
    const done = await waitFor(
      async () => {
        const now = await api.client.call('getRule', { params: { ruleId: rule.ruleId } });
        return now.state === 'replicating' ? undefined : now;
      },
      { timeoutMs: 30_000, what: `rule ${rule.ruleId} to settle` },
    );
    expect(done).toMatchObject({ state: 'ok', counters: { files: 1, available: 1, copying: 0, failed: 0 } });
    const out = await s3.send(
      new GetObjectCommand({ Bucket: 'rules-e2e-b', Key: 'disk/user.local-user/f1.root' }),
    );
    const copied = Buffer.from(
      await (out.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
    );
    expect(copied.equals(BODY)).toBe(true);
  });

  it('refuses more copies than endpoints with a 400 naming copies', async () => {
    const answer = await api.post<{ error: { issues: Array<{ field: string }> } }>('/catalog/rules', {
      did: DATASET,
      copies: 2,
      endpoints: ['DATA-B'],
    });
    expect(answer.status).toBe(400);
    expect(answer.body.error.issues.map((i) => i.field)).toEqual(['copies']);
  });
});
