import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, it } from 'vitest';
import { awsEnvFor, freePort, startDynamoDbLocal, startFauxqs } from '#local/stand-ins.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function occupy(port: number): Promise<Server> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return server;
}

function localSqs(endpoint: string): SQSClient {
  const client = new SQSClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  cleanups.push(() => client.destroy());
  return client;
}

describe('stand-ins', () => {
  it('refuses to start DynamoDB Local on a port in use, saying why', async () => {
    const port = await freePort();
    await occupy(port);
    await expect(startDynamoDbLocal({ port })).rejects.toThrow(`port ${port} is already in use`);
  });

  it('refuses to start fauxqs on a port in use', async () => {
    const port = await freePort();
    await occupy(port);
    await expect(startFauxqs({ port })).rejects.toThrow(/already in use/);
  });

  it('keeps fauxqs queues in its data directory across restarts', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'gluon-fauxqs-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const port = await freePort();
    const first = await startFauxqs({ port, dataDir });
    cleanups.push(() => first.stop());
    expect(first.endpoint).toBe(`http://127.0.0.1:${port}`);
    await localSqs(first.endpoint).send(new CreateQueueCommand({ QueueName: 'kept' }));
    await first.stop();

    const second = await startFauxqs({ port, dataDir });
    cleanups.push(() => second.stop());
    const out = await localSqs(second.endpoint).send(new GetQueueUrlCommand({ QueueName: 'kept' }));
    expect(out.QueueUrl?.endsWith('/kept')).toBe(true);
  });

  it('counts a message visible again once its visibility timeout passed, with nobody receiving (as SQS does)', async () => {
    const port = await freePort();
    const fauxqs = await startFauxqs({ port });
    cleanups.push(() => fauxqs.stop());
    const sqs = localSqs(fauxqs.endpoint);
    const { QueueUrl } = await sqs.send(
      new CreateQueueCommand({ QueueName: 'swallowed', Attributes: { VisibilityTimeout: '1' } }),
    );
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'job' }));
    // Received by a consumer that dies before it deletes the message (a pilot killed mid-poll).
    const received = await sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 0 }));
    expect(received.Messages).toHaveLength(1);
    const depth = async () =>
      (
        await sqs.send(
          new GetQueueAttributesCommand({
            QueueUrl,
            AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
          }),
        )
      ).Attributes;
    expect(await depth()).toMatchObject({
      ApproximateNumberOfMessages: '0',
      ApproximateNumberOfMessagesNotVisible: '1',
    });
    // Only the queue's depth is asked for: that alone must show the message back.
    const deadline = Date.now() + 10_000;
    while ((await depth())?.ApproximateNumberOfMessages !== '1') {
      if (Date.now() > deadline) throw new Error('the message never became visible again');
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(await depth()).toMatchObject({
      ApproximateNumberOfMessages: '1',
      ApproximateNumberOfMessagesNotVisible: '0',
    });
  });

  it('points the SDK at the stand-ins, DynamoDB Streams at DynamoDB Local', () => {
    expect(
      awsEnvFor({ dynamodb: 'http://127.0.0.1:1', sqs: 'http://127.0.0.1:2', s3: 'http://127.0.0.1:2' }),
    ).toEqual({
      AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:1',
      AWS_ENDPOINT_URL_DYNAMODB_STREAMS: 'http://127.0.0.1:1',
      AWS_ENDPOINT_URL_SQS: 'http://127.0.0.1:2',
      AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:2',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_EC2_METADATA_DISABLED: 'true',
    });
    expect(
      awsEnvFor({ dynamodb: 'a', sqs: 'b', s3: 'c', sfn: 'http://127.0.0.1:3' }).AWS_ENDPOINT_URL_SFN,
    ).toBe('http://127.0.0.1:3');
  });
});
