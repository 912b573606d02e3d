import { createServer, type Server, type Socket } from 'node:net';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { ListQueuesCommand } from '@aws-sdk/client-sqs';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  awsRequestCounts,
  dynamoDbClient,
  dynamoDbDocumentClient,
  resetAwsRequestCounts,
  s3Client,
  sqsClient,
} from '#adapters/aws-clients.ts';
import { DynamoDbTaskStore } from '#adapters/dynamodb/dynamodb-task-store.ts';
import { S3ObjectStore } from '#adapters/s3/s3-object-store.ts';
import { isTransientSdkError } from '#adapters/sdk-errors.ts';
import { SqsJobQueue } from '#adapters/sqs/sqs-job-queue.ts';
import { TransientError } from '#core/errors.ts';
import { uniquePrefix, useStandInsEnv } from '#test/support/stand-ins-env.ts';
import { freshTables } from './fixtures.ts';

let restoreEnv: () => void;

beforeAll(() => {
  restoreEnv = useStandInsEnv();
});

afterAll(() => restoreEnv?.());

describe('AWS request counting', () => {
  it('counts requests by service and operation, document client included', async () => {
    const tables = await freshTables(uniquePrefix('it-count-'));
    const db = dynamoDbDocumentClient();
    const sqs = sqsClient();
    const s3 = s3Client();
    try {
      resetAwsRequestCounts();
      expect(awsRequestCounts()).toEqual({});

      await db.send(new GetCommand({ TableName: tables.sites, Key: { siteId: 'x' } }));
      await db.send(new GetCommand({ TableName: tables.sites, Key: { siteId: 'y' } }));
      await sqs.send(new ListQueuesCommand({}));
      const queue = new SqsJobQueue(sqs, uniquePrefix('it-count-'));
      await queue.ensureSiteQueue('site-a');
      await queue.send(
        Array.from({ length: 25 }, (_, jobIndex) => ({
          v: 1 as const,
          taskId: 't-count0001',
          jobIndex,
          attempt: 1,
          siteId: 'site-a',
        })),
      );
      // Presigning signs locally: no request.
      await new S3ObjectStore(s3, 'any-bucket').presignPut('k', 60);

      expect(awsRequestCounts()).toEqual({
        'DynamoDB.GetItem': 2,
        // A queue and its DLQ per resource class, and each DLQ's ARN.
        'SQS.CreateQueue': 8,
        'SQS.GetQueueAttributes': 4,
        'SQS.ListQueues': 1,
        'SQS.SendMessageBatch': 3,
      });
      resetAwsRequestCounts();
      expect(awsRequestCounts()).toEqual({});
    } finally {
      db.destroy();
      sqs.destroy();
      s3.destroy();
    }
  });
});

describe('request timeouts', () => {
  /** A TCP server that accepts connections and never answers; counts the connections. */
  let server: Server;
  let endpoint: string;
  let connections = 0;
  const sockets = new Set<Socket>();
  let restoreTimeouts: (() => void) | undefined;

  beforeAll(async () => {
    server = createServer((socket) => {
      connections++;
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (typeof address !== 'object' || address === null) throw new Error('no address');
    endpoint = `http://127.0.0.1:${address.port}`;
  });

  afterEach(() => {
    restoreTimeouts?.();
    restoreTimeouts = undefined;
    connections = 0;
  });

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  /** The silent server as the DynamoDB endpoint, with GLUON_SDK_TIMEOUT_MS and GLUON_SDK_MAX_ATTEMPTS set. */
  function silentDynamoDb(timeoutMs: number, attempts: number): void {
    restoreTimeouts = useStandInsEnv({
      AWS_ENDPOINT_URL_DYNAMODB: endpoint,
      GLUON_SDK_TIMEOUT_MS: String(timeoutMs),
      GLUON_SDK_MAX_ATTEMPTS: String(attempts),
    });
  }

  it('gives up on a request that is never answered, as a transient error, after each try timed out', async () => {
    silentDynamoDb(400, 2);
    const client = dynamoDbClient();
    const store = new DynamoDbTaskStore(dynamoDbDocumentClient(client), 'tasks');
    try {
      const started = Date.now();
      const error = await store.getHead('t-timeout01').catch((e: unknown) => e);
      const elapsed = Date.now() - started;

      expect(error).toBeInstanceOf(TransientError);
      expect((error as Error).message).toMatch(/^get task: /);
      expect(isTransientSdkError((error as Error).cause)).toBe(true);
      // Two tries, each ended by the timeout rather than by the test's own (60 s).
      expect(connections).toBe(2);
      expect(elapsed).toBeGreaterThanOrEqual(2 * 400 - 50);
      expect(elapsed).toBeLessThan(10_000);
    } finally {
      client.destroy();
    }
  });

  it('uses the timeout and tries a caller asks for over the environment (a long poll needs longer)', async () => {
    silentDynamoDb(30_000, 5);
    const client = dynamoDbClient({ requestTimeoutMs: 300, maxAttempts: 1 });
    try {
      const error = await client.send(new ListTablesCommand({})).catch((e: unknown) => e);
      expect(isTransientSdkError(error)).toBe(true);
      expect(connections).toBe(1);
    } finally {
      client.destroy();
    }
  });
});
