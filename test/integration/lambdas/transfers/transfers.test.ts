/**
 * The transfer service against the stand-ins: DynamoDB Local (the catalog table: files, replicas,
 * rules, locks), fauxqs SQS (the transfers queue) and fauxqs S3 with two buckets as two storage
 * endpoints; the rules API and the transfer-files consumer as Lambda calls them.
 */
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { CreateQueueCommand, DeleteMessageBatchCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIN_PART_BYTES, S3ObjectCopier } from '#adapters/s3/s3-object-copier.ts';
import { ensureBucket } from '#adapters/s3/s3-object-store.ts';
import { SqsTransferQueue } from '#adapters/sqs/sqs-transfer-queue.ts';
import type { ObjectCopier, ObjectRef } from '#core/transfers/ports.ts';
import { createHandler as createRulesApi } from '#lambdas/transfers/rules-api/handler.ts';
import { createHandler as createTransferFiles } from '#lambdas/transfers/transfer-files/handler.ts';
import { adler32 } from '#pilot/adler32.ts';
import {
  createHandlerHarness,
  type HandlerHarness,
  httpEvent,
  invoke,
  invokeHttp,
  issueFields,
} from '#test/support/handler-harness.ts';

const USER = { sub: 'alice', scopes: ['compute.create', 'compute.read'] };
const SCOPE = 'user.alice';

/** The real copier; `corruptNext` makes the next copy write other bytes of the same size (a fault on the wire). */
class FaultyCopier implements ObjectCopier {
  corruptNext = false;
  private readonly inner: S3ObjectCopier;
  private readonly harness: () => HandlerHarness;
  constructor(inner: S3ObjectCopier, harness: () => HandlerHarness) {
    this.inner = inner;
    this.harness = harness;
  }
  async copy(source: ObjectRef, destination: ObjectRef, bytes: number): Promise<void> {
    await this.inner.copy(source, destination, bytes);
    if (this.corruptNext) {
      this.corruptNext = false;
      const out = await this.harness().s3.send(
        new GetObjectCommand({ Bucket: destination.bucket, Key: destination.key }),
      );
      const body = Buffer.from(
        await (out.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
      );
      body[0] = (body[0] ?? 0) ^ 0xff;
      await this.harness().s3.send(
        new PutObjectCommand({ Bucket: destination.bucket, Key: destination.key, Body: body }),
      );
    }
  }
  checksum(object: ObjectRef) {
    return this.inner.checksum(object);
  }
  remove(object: ObjectRef) {
    return this.inner.remove(object);
  }
}

let h: HandlerHarness;
let bucketA: string;
let bucketB: string;
let queueUrl: string;
let copier: FaultyCopier;
let rulesApi: ReturnType<typeof createRulesApi>;
let transferFiles: ReturnType<typeof createTransferFiles>;

beforeAll(async () => {
  h = await createHandlerHarness();
  bucketA = `${h.queuePrefix}a`;
  bucketB = `${h.queuePrefix}b`;
  await Promise.all([ensureBucket(h.s3, bucketA), ensureBucket(h.s3, bucketB)]);
  const queue = await h.sqs.send(new CreateQueueCommand({ QueueName: `${h.queuePrefix}transfers` }));
  queueUrl = queue.QueueUrl as string;
  copier = new FaultyCopier(
    new S3ObjectCopier(h.s3, { multipartThresholdBytes: 1024 * 1024, partBytes: MIN_PART_BYTES }),
    () => h,
  );
  const deps = {
    ...h.deps,
    transferQueue: new SqsTransferQueue(h.sqs, queueUrl),
    copier,
    transfers: { baseSec: 1, maxDelaySec: 2, maxAttempts: 3 },
  };
  rulesApi = createRulesApi(deps);
  transferFiles = createTransferFiles(deps);
  await h.deps.catalog.putEndpoint({
    endpointId: 'DATA-A',
    kind: 's3',
    bucket: bucketA,
    prefix: 'disk/',
    sites: [],
    readable: true,
    writable: true,
  });
  await h.deps.catalog.putEndpoint({
    endpointId: 'DATA-B',
    kind: 's3',
    bucket: bucketB,
    prefix: 'disk/',
    sites: [],
    readable: true,
    writable: true,
  });
}, 60_000);

afterAll(async () => {
  await h?.close();
});

/** A dataset whose files are objects in bucket A, each with an available replica at DATA-A. */
async function dataset(name: string, bodies: Buffer[]): Promise<string> {
  await h.deps.catalog.createDataset({
    scope: SCOPE,
    name,
    state: 'open',
    owner: 'alice',
    files: 0,
    bytes: 0,
    events: 0,
    metadata: {},
    createdAt: new Date().toISOString(),
  });
  const entries = [];
  for (const [i, body] of bodies.entries()) {
    const fileName = `${name}._${i}.root`;
    const key = `disk/${SCOPE}/${fileName}`;
    await h.s3.send(new PutObjectCommand({ Bucket: bucketA, Key: key, Body: body }));
    entries.push({
      file: { scope: SCOPE, name: fileName, bytes: body.length, adler32: adler32(body), metadata: {} },
      replicas: [
        {
          scope: SCOPE,
          name: fileName,
          endpointId: 'DATA-A',
          state: 'available' as const,
          url: `s3://${bucketA}/${key}`,
          updatedAt: new Date().toISOString(),
        },
      ],
    });
  }
  await h.deps.catalog.registerFiles(entries, {
    dataset: { scope: SCOPE, name },
    registeredBy: 'alice',
    at: new Date().toISOString(),
  });
  return `${SCOPE}:${name}`;
}

/** Receives the transfer messages that are due, hands them to transfer-files as Lambda would, deletes the handled ones. */
async function deliver(expected: number, deadlineMs = 15_000): Promise<SQSEvent['Records']> {
  const handled: SQSEvent['Records'] = [];
  const deadline = Date.now() + deadlineMs;
  while (handled.length < expected && Date.now() < deadline) {
    const out = await h.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        VisibilityTimeout: 30,
      }),
    );
    const messages = out.Messages ?? [];
    if (messages.length === 0) continue;
    const records = messages.map((m) => ({
      messageId: m.MessageId ?? '',
      receiptHandle: m.ReceiptHandle ?? '',
      body: m.Body ?? '',
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: '0',
        SenderId: 'test',
        ApproximateFirstReceiveTimestamp: '0',
      },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:transfers',
      awsRegion: 'us-east-1',
    }));
    const answer = await invoke(transferFiles, { Records: records }, 'transfer-files');
    expect(answer.batchItemFailures).toEqual([]);
    await h.sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' })),
      }),
    );
    handled.push(...records);
  }
  return handled;
}

async function addRule(body: unknown) {
  return invokeHttp<Record<string, unknown>>(
    rulesApi,
    httpEvent({ method: 'POST', path: '/catalog/rules', body, ...USER }),
  );
}

async function ruleOf(ruleId: string) {
  return invokeHttp<{ state: string; counters: Record<string, number> }>(
    rulesApi,
    httpEvent({ method: 'GET', path: '/catalog/rules/{ruleId}', pathParameters: { ruleId }, ...USER }),
  );
}

async function objectAt(bucket: string, key: string): Promise<Buffer | undefined> {
  try {
    const out = await h.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return Buffer.from(
      await (out.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
    );
  } catch {
    return undefined;
  }
}

async function replicaState(name: string, endpointId: string) {
  const replicas = await h.deps.catalog.replicasOf([{ scope: SCOPE, name }]);
  return replicas.get(`${SCOPE}:${name}`)?.find((r) => r.endpointId === endpointId)?.state;
}

describe('the transfer service (two buckets as two endpoints)', () => {
  it('copies each file to the other bucket, verifies it, and the rule ends ok', async () => {
    const bodies = [
      Buffer.from('mu+ mu- 91.2 GeV\n'.repeat(50)),
      Buffer.from('mu+ mu- 90.7 GeV\n'.repeat(70)),
    ];
    const did = await dataset('copy', bodies);
    const added = await addRule({ did, copies: 1, endpoints: ['DATA-B'] });
    expect(added.statusCode).toBe(201);
    const ruleId = added.body.ruleId as string;
    expect(added.body).toMatchObject({
      state: 'replicating',
      counters: { files: 2, available: 0, copying: 2, failed: 0 },
    });
    expect(await replicaState('copy._0.root', 'DATA-B')).toBe('copying');

    await deliver(2);
    expect(await objectAt(bucketB, `disk/${SCOPE}/copy._0.root`)).toEqual(bodies[0]);
    expect(await objectAt(bucketB, `disk/${SCOPE}/copy._1.root`)).toEqual(bodies[1]);
    expect(await replicaState('copy._1.root', 'DATA-B')).toBe('available');
    expect((await ruleOf(ruleId)).body).toMatchObject({
      state: 'ok',
      counters: { files: 2, available: 2, copying: 0, failed: 0 },
    });
  });

  it('detects a corrupted copy by its checksum, deletes it and redoes it after the back-off', async () => {
    const body = Buffer.from('event 1\nevent 2\nevent 3\n'.repeat(40));
    const did = await dataset('corrupt', [body]);
    const { body: rule } = await addRule({ did, copies: 1, endpoints: ['DATA-B'] });
    copier.corruptNext = true;
    await deliver(1);
    // The first attempt's copy was found wrong: deleted, the replica corrupt, a retry queued with a delay.
    expect(await objectAt(bucketB, `disk/${SCOPE}/corrupt._0.root`)).toBeUndefined();
    expect(await replicaState('corrupt._0.root', 'DATA-B')).toBe('corrupt');
    expect((await ruleOf(rule.ruleId as string)).body).toMatchObject({
      state: 'replicating',
      counters: { copying: 1 },
    });

    await deliver(1);
    expect(await objectAt(bucketB, `disk/${SCOPE}/corrupt._0.root`)).toEqual(body);
    expect(await replicaState('corrupt._0.root', 'DATA-B')).toBe('available');
    expect((await ruleOf(rule.ruleId as string)).body).toMatchObject({
      state: 'ok',
      counters: { available: 1, copying: 0, failed: 0 },
    });
  });

  it('copies a file above the threshold in parts (UploadPartCopy), byte for byte', async () => {
    const bytes = 2 * MIN_PART_BYTES + 4096;
    const body = Buffer.alloc(bytes);
    for (let i = 0; i < bytes; i++) body[i] = (i * 7 + (i >> 11)) & 0xff;
    const did = await dataset('big', [body]);
    const { body: rule } = await addRule({ did, copies: 1, endpoints: ['DATA-B'] });
    await deliver(1);
    const copied = await objectAt(bucketB, `disk/${SCOPE}/big._0.root`);
    expect(copied?.length).toBe(bytes);
    expect(copied?.equals(body)).toBe(true);
    expect((await ruleOf(rule.ruleId as string)).body.state).toBe('ok');
  }, 60_000);

  it('changes nothing when a message is delivered again', async () => {
    const did = await dataset('replay', [Buffer.from('once\n')]);
    const { body: rule } = await addRule({ did, copies: 1, endpoints: ['DATA-B'] });
    const [record] = await deliver(1);
    const before = (await ruleOf(rule.ruleId as string)).body;
    expect(before).toMatchObject({ state: 'ok', counters: { available: 1, copying: 0 } });
    const answer = await invoke(
      transferFiles,
      { Records: [record as SQSEvent['Records'][number]] },
      'transfer-files',
    );
    expect(answer.batchItemFailures).toEqual([]);
    expect((await ruleOf(rule.ruleId as string)).body).toEqual(before);
    const out = await h.sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 1 }));
    expect(out.Messages ?? []).toEqual([]);
  });
});

describe('the rules API', () => {
  it('refuses more copies than endpoints with a 400 naming copies, and writes nothing', async () => {
    const did = await dataset('refused', [Buffer.from('x\n')]);
    const before = (await h.scan('catalog')).length;
    const reply = await addRule({ did, copies: 2, endpoints: ['DATA-B'] });
    expect(reply.statusCode).toBe(400);
    expect(issueFields(reply.body)).toEqual(['copies']);
    expect((await h.scan('catalog')).length).toBe(before);
    const out = await h.sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 1 }));
    expect(out.Messages ?? []).toEqual([]);
  });

  it('refuses an unknown endpoint (400 endpoints), another scope (403), and answers 404 for another user’s rule', async () => {
    const did = await dataset('guarded', [Buffer.from('y\n')]);
    const unknown = await addRule({ did, copies: 1, endpoints: ['NOWHERE'] });
    expect(unknown.statusCode).toBe(400);
    expect(issueFields(unknown.body)).toEqual(['endpoints']);
    const bob = await invokeHttp(
      rulesApi,
      httpEvent({
        method: 'POST',
        path: '/catalog/rules',
        body: { did, copies: 1, endpoints: ['DATA-B'] },
        sub: 'bob',
        scopes: USER.scopes,
      }),
    );
    expect(bob.statusCode).toBe(403);
    const { body: rule } = await addRule({ did, copies: 1, endpoints: ['DATA-B'] });
    const other = await invokeHttp(
      rulesApi,
      httpEvent({
        method: 'GET',
        path: '/catalog/rules/{ruleId}',
        pathParameters: { ruleId: rule.ruleId as string },
        sub: 'bob',
        scopes: USER.scopes,
      }),
    );
    expect(other.statusCode).toBe(404);
    const list = await invokeHttp<{ items: Array<{ ruleId: string }> }>(
      rulesApi,
      httpEvent({ method: 'GET', path: '/catalog/rules', query: { did }, ...USER }),
    );
    expect(list.body.items.map((r) => r.ruleId)).toEqual([rule.ruleId]);
    const removed = await invokeHttp<{ state: string }>(
      rulesApi,
      httpEvent({
        method: 'DELETE',
        path: '/catalog/rules/{ruleId}',
        pathParameters: { ruleId: rule.ruleId as string },
        ...USER,
      }),
    );
    expect(removed.body.state).toBe('deleted');
    await deliver(1);
    expect(await objectAt(bucketB, `disk/${SCOPE}/guarded._0.root`)).toBeUndefined();
  });
});
