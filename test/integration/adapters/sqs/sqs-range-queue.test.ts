import { GetQueueUrlCommand, type Message, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsRequestCounts, sqsClient } from '#adapters/aws-clients.ts';
import { RANGE_MAX_RECEIVE_COUNT, rangeQueueNames, SqsRangeQueue } from '#adapters/sqs/sqs-range-queue.ts';
import { NotFoundError } from '#core/errors.ts';
import { parseRangeMessage, type RangeMessage } from '#core/event-ranges/event-range.ts';
import { queueAttributes, receiveAll } from '#test/support/sqs-queues.ts';
import { uniquePrefix, useStandInsEnv } from '#test/support/stand-ins-env.ts';

let restoreEnv: () => void;
let client: SQSClient;
let prefix: string;
let queue: SqsRangeQueue;

beforeAll(() => {
  restoreEnv = useStandInsEnv();
  client = sqsClient();
  prefix = uniquePrefix('it-rq-');
  queue = new SqsRangeQueue(client, prefix);
});

afterAll(() => {
  client?.destroy();
  restoreEnv?.();
});

/** `n` messages of 3 ranges each, numbered from range 0. */
function messages(taskId: string, n: number): RangeMessage[] {
  return Array.from({ length: n }, (_, m) => ({
    v: 1,
    taskId,
    ranges: [0, 1, 2].map((r) => ({ i: 3 * m + r, a: 1, first: 100 * (3 * m + r), n: 100 })),
  }));
}

function parsedSorted(received: Message[]): RangeMessage[] {
  return received
    .map((m) => parseRangeMessage(m.Body ?? ''))
    .sort((a, b) => (a.ranges[0]?.i ?? 0) - (b.ranges[0]?.i ?? 0));
}

async function exists(name: string): Promise<boolean> {
  try {
    await client.send(new GetQueueUrlCommand({ QueueName: name }));
    return true;
  } catch (error) {
    if ((error as Error).name === 'QueueDoesNotExist') return false;
    throw error;
  }
}

describe('SqsRangeQueue queues', () => {
  it('creates a task queue with its DLQ, the lease as visibility timeout and a redrive policy, idempotently', async () => {
    const taskId = 't-rq0000001';
    const urls = await queue.ensureTaskQueue(taskId, { visibilitySec: 90 });
    const names = rangeQueueNames(prefix, taskId);
    expect(names).toEqual({ queue: `${prefix}ranges-${taskId}`, dlq: `${prefix}ranges-${taskId}-dlq` });
    expect(urls.queueUrl.endsWith(`/${names.queue}`)).toBe(true);
    expect(urls.dlqUrl.endsWith(`/${names.dlq}`)).toBe(true);

    const main = await queueAttributes(client, urls.queueUrl);
    const dlq = await queueAttributes(client, urls.dlqUrl);
    expect(main.VisibilityTimeout).toBe('90');
    expect(JSON.parse(main.RedrivePolicy ?? '{}')).toEqual({
      deadLetterTargetArn: dlq.QueueArn,
      maxReceiveCount: RANGE_MAX_RECEIVE_COUNT,
    });
    expect(RANGE_MAX_RECEIVE_COUNT).toBe(15);
    expect(dlq.MessageRetentionPeriod).toBe(String(14 * 24 * 3600));
    expect(dlq.RedrivePolicy).toBeUndefined();

    expect(await queue.ensureTaskQueue(taskId, { visibilitySec: 90 })).toEqual(urls);
    // A fresh adapter (cold start, empty cache) finds the same queues, and keeps an existing queue as it is.
    const fresh = new SqsRangeQueue(client, prefix);
    expect(await fresh.queueUrl(taskId)).toBe(urls.queueUrl);
    expect(await fresh.ensureTaskQueue(taskId, { visibilitySec: 300 })).toEqual(urls);
    expect((await queueAttributes(client, urls.queueUrl)).VisibilityTimeout).toBe('90');
  });

  it('reports a task without a queue as not found, and finds it once created', async () => {
    const taskId = 't-rq0000002';
    await expect(queue.queueUrl(taskId)).rejects.toBeInstanceOf(NotFoundError);
    await expect(queue.send(taskId, messages(taskId, 1))).rejects.toBeInstanceOf(NotFoundError);
    await expect(queue.sendDeadLetters(taskId, messages(taskId, 1))).rejects.toBeInstanceOf(NotFoundError);
    // A failed look-up is not cached.
    const urls = await new SqsRangeQueue(client, prefix).ensureTaskQueue(taskId, { visibilitySec: 60 });
    expect(await queue.queueUrl(taskId)).toBe(urls.queueUrl);
  });

  it('deletes the queue and its DLQ, and again without complaint', async () => {
    const taskId = 't-rq0000003';
    const names = rangeQueueNames(prefix, taskId);
    await queue.ensureTaskQueue(taskId, { visibilitySec: 60 });
    await queue.send(taskId, messages(taskId, 2));
    expect(await exists(names.queue)).toBe(true);
    expect(await exists(names.dlq)).toBe(true);

    await queue.deleteTaskQueues(taskId);
    expect(await exists(names.queue)).toBe(false);
    expect(await exists(names.dlq)).toBe(false);
    // No cached URL of a deleted queue is left behind.
    await expect(queue.queueUrl(taskId)).rejects.toBeInstanceOf(NotFoundError);

    await queue.deleteTaskQueues(taskId);
    await new SqsRangeQueue(client, prefix).deleteTaskQueues('t-rq0000999');
  });
});

describe('SqsRangeQueue sending', () => {
  it('sends 25 messages in batches of 10, and they all arrive', async () => {
    const taskId = 't-rq0000004';
    const urls = await queue.ensureTaskQueue(taskId, { visibilitySec: 60 });
    const sent = messages(taskId, 25);
    const batchesBefore = awsRequestCounts()['SQS.SendMessageBatch'] ?? 0;

    await queue.send(taskId, sent);

    // Counted by the client's middleware, like every other AWS request.
    expect((awsRequestCounts()['SQS.SendMessageBatch'] ?? 0) - batchesBefore).toBe(3);
    expect(parsedSorted(await receiveAll(client, urls.queueUrl, 25))).toEqual(sent);
    expect((await queueAttributes(client, urls.dlqUrl)).ApproximateNumberOfMessages).toBe('0');
  });

  it('sends nothing for no messages', async () => {
    const before = awsRequestCounts()['SQS.SendMessageBatch'] ?? 0;
    await queue.send('t-rq0000998', []);
    await queue.sendDeadLetters('t-rq0000998', []);
    expect(awsRequestCounts()['SQS.SendMessageBatch'] ?? 0).toBe(before);
  });

  it('puts dead letters into the DLQ, not the queue', async () => {
    const taskId = 't-rq0000005';
    const urls = await new SqsRangeQueue(client, prefix).ensureTaskQueue(taskId, { visibilitySec: 60 });
    const dead = messages(taskId, 12);

    await queue.sendDeadLetters(taskId, dead);

    expect(parsedSorted(await receiveAll(client, urls.dlqUrl, 12))).toEqual(dead);
    expect((await queueAttributes(client, urls.queueUrl)).ApproximateNumberOfMessages).toBe('0');
  });

  it('moves a message received 15 times without deletion to the DLQ', async () => {
    const taskId = 't-rq0000006';
    const urls = await queue.ensureTaskQueue(taskId, { visibilitySec: 60 });
    const sent = messages(taskId, 1);
    await queue.send(taskId, sent);
    let receives = 0;
    for (let i = 0; i < RANGE_MAX_RECEIVE_COUNT + 1; i++) {
      const out = await client.send(
        new ReceiveMessageCommand({ QueueUrl: urls.queueUrl, VisibilityTimeout: 0, WaitTimeSeconds: 0 }),
      );
      receives += out.Messages?.length ?? 0;
    }
    expect(receives).toBe(RANGE_MAX_RECEIVE_COUNT);
    expect(parsedSorted(await receiveAll(client, urls.dlqUrl, 1))).toEqual(sent);
    expect((await queueAttributes(client, urls.queueUrl)).ApproximateNumberOfMessages).toBe('0');
  });
});
