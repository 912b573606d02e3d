import { ListQueuesCommand } from '@aws-sdk/client-sqs';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  awsRequestCounts,
  dynamoDbDocumentClient,
  resetAwsRequestCounts,
  s3Client,
  sqsClient,
} from '#adapters/aws-clients.ts';
import { S3ObjectStore } from '#adapters/s3/s3-object-store.ts';
import { SqsJobQueue } from '#adapters/sqs/sqs-job-queue.ts';
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
        'SQS.CreateQueue': 2,
        'SQS.GetQueueAttributes': 1,
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
