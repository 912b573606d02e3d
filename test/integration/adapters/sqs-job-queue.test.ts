import {
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotFoundError } from '#core/errors.ts';
import { type JobMessage, parseJobMessage } from '#core/jobs/job-message.ts';
import { sqsClient } from '#adapters/aws-clients.ts';
import { queueNames, SqsJobQueue } from '#adapters/sqs/sqs-job-queue.ts';
import { uniquePrefix, useStandInsEnv } from '#test/support/stand-ins-env.ts';

let restoreEnv: () => void;
let client: SQSClient;
let prefix: string;
let queue: SqsJobQueue;

beforeAll(() => {
  restoreEnv = useStandInsEnv();
  client = sqsClient();
  prefix = uniquePrefix('it-sqs-');
  queue = new SqsJobQueue(client, prefix);
});

afterAll(() => {
  client?.destroy();
  restoreEnv?.();
});

function messages(siteId: string, n: number, taskId = 't-sqs000001'): JobMessage[] {
  return Array.from({ length: n }, (_, jobIndex) => ({ v: 1, taskId, jobIndex, attempt: 1, siteId }));
}

/** Receives (without deleting) until `n` messages came or the deadline passed. */
async function receiveAll(queueUrl: string, n: number, deadlineMs = 15_000): Promise<Message[]> {
  const got: Message[] = [];
  const deadline = Date.now() + deadlineMs;
  while (got.length < n && Date.now() < deadline) {
    const out = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        VisibilityTimeout: 60,
      }),
    );
    got.push(...(out.Messages ?? []));
  }
  return got;
}

describe('SqsJobQueue', () => {
  it('creates a site queue with its DLQ and the agreed attributes, idempotently', async () => {
    const urls = await queue.ensureSiteQueue('site-a');
    const names = queueNames(prefix, 'site-a');
    expect(urls.queueUrl.endsWith(`/${names.queue}`)).toBe(true);
    expect(urls.dlqUrl.endsWith(`/${names.dlq}`)).toBe(true);
    expect(names).toEqual({ queue: `${prefix}site-site-a`, dlq: `${prefix}site-site-a-dlq` });

    const out = await client.send(
      new GetQueueAttributesCommand({ QueueUrl: urls.queueUrl, AttributeNames: ['All'] }),
    );
    const dlq = await client.send(
      new GetQueueAttributesCommand({ QueueUrl: urls.dlqUrl, AttributeNames: ['All'] }),
    );
    expect(out.Attributes).toMatchObject({
      VisibilityTimeout: '60',
      ReceiveMessageWaitTimeSeconds: '20',
      MessageRetentionPeriod: String(14 * 24 * 3600),
    });
    expect(JSON.parse(out.Attributes?.RedrivePolicy ?? '{}')).toEqual({
      deadLetterTargetArn: dlq.Attributes?.QueueArn,
      maxReceiveCount: 5,
    });

    expect(await queue.ensureSiteQueue('site-a')).toEqual(urls);
    // A fresh adapter (cold start, empty cache) finds the same queues.
    const fresh = new SqsJobQueue(client, prefix);
    expect(await fresh.ensureSiteQueue('site-a')).toEqual(urls);
    expect(await new SqsJobQueue(client, prefix).queueUrl('site-a')).toBe(urls.queueUrl);
  });

  it('sends 25 messages in batches and they all arrive, grouped by site', async () => {
    const a = await queue.ensureSiteQueue('site-send-a');
    const b = await queue.ensureSiteQueue('site-send-b');
    const toA = messages('site-send-a', 25);
    const toB = messages('site-send-b', 3, 't-sqs000002');
    await queue.send([...toA.slice(0, 12), ...toB, ...toA.slice(12)]);

    expect(await queue.depth('site-send-a')).toBe(25);
    expect(await queue.depth('site-send-b')).toBe(3);
    const gotA = await receiveAll(a.queueUrl, 25);
    expect(gotA.map((m) => parseJobMessage(m.Body ?? '')).sort((x, y) => x.jobIndex - y.jobIndex)).toEqual(
      toA,
    );
    const gotB = await receiveAll(b.queueUrl, 3);
    expect(gotB.map((m) => parseJobMessage(m.Body ?? '')).sort((x, y) => x.jobIndex - y.jobIndex)).toEqual(
      toB,
    );
    expect(await queue.depth('site-send-a')).toBe(0);
  });

  it('moves a message received 5 times without deletion to the DLQ', async () => {
    const urls = await queue.ensureSiteQueue('site-dlq');
    const [message] = messages('site-dlq', 1, 't-sqs000003');
    await queue.send([message as JobMessage]);
    let receives = 0;
    for (let i = 0; i < 6; i++) {
      const out = await client.send(
        new ReceiveMessageCommand({ QueueUrl: urls.queueUrl, VisibilityTimeout: 0, WaitTimeSeconds: 1 }),
      );
      receives += out.Messages?.length ?? 0;
    }
    expect(receives).toBe(5);
    const inDlq = await receiveAll(urls.dlqUrl, 1);
    expect(inDlq.map((m) => parseJobMessage(m.Body ?? ''))).toEqual([message]);
    expect(await queue.depth('site-dlq')).toBe(0);
  });

  it('reports a site without a queue as not found', async () => {
    await expect(queue.queueUrl('site-none')).rejects.toBeInstanceOf(NotFoundError);
    await expect(queue.send(messages('site-none', 1))).rejects.toBeInstanceOf(NotFoundError);
    // Once created, the same adapter finds it (a failed look-up is not cached).
    const urls = await queue.ensureSiteQueue('site-none');
    expect(await queue.queueUrl('site-none')).toBe(urls.queueUrl);
  });
});
