/**
 * The consumer's range-queue client against fauxqs: receive with receive counts, lease extension
 * and hand-back by visibility, deletes of stale handles, sends, an aborted long poll.
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqsClient } from '#adapters/aws-clients.ts';
import { SqsRangeQueue } from '#adapters/sqs/sqs-range-queue.ts';
import type { RangeMessage } from '#core/event-ranges/event-range.ts';
import { SqsRangeQueueClient } from '#pilot/consumer/sqs-range-queue-client.ts';
import { sleep } from '#platform/sleep.ts';
import { queueAttributes } from '#test/support/sqs-queues.ts';
import { uniquePrefix, useStandInsEnv } from '#test/support/stand-ins-env.ts';

let restoreEnv: () => void;
let client: SQSClient;
let queues: SqsRangeQueue;
let taskNumber = 0;

beforeAll(() => {
  restoreEnv = useStandInsEnv();
  // As the pilot builds it: a long poll's request lasts longer than the default timeout.
  client = sqsClient({ requestTimeoutMs: 30_000 });
  queues = new SqsRangeQueue(client, uniquePrefix('it-rqc-'));
});

afterAll(() => {
  client?.destroy();
  restoreEnv?.();
});

/** A fresh task queue (lease `visibilitySec`) holding `n` messages, and a client of it. */
async function queueWith(n: number, visibilitySec = 60): Promise<SqsRangeQueueClient> {
  const taskId = `t-rqc${String(++taskNumber).padStart(6, '0')}`;
  const { queueUrl } = await queues.ensureTaskQueue(taskId, { visibilitySec });
  const messages: RangeMessage[] = Array.from({ length: n }, (_, i) => ({
    v: 1,
    taskId,
    ranges: [{ i, a: 1, first: 10 * i, n: 10 }],
  }));
  await queues.send(taskId, messages);
  return new SqsRangeQueueClient(client, queueUrl);
}

async function visibleCount(queueUrl: string): Promise<number> {
  return Number((await queueAttributes(client, queueUrl)).ApproximateNumberOfMessages);
}

describe('SqsRangeQueueClient', () => {
  it('receives several messages at once, each with its receive count', async () => {
    const queue = await queueWith(4);
    const first = await queue.receive(10, 1);
    expect(first.map((m) => JSON.parse(m.body).ranges[0].i).sort()).toEqual([0, 1, 2, 3]);
    expect(first.map((m) => m.receiveCount)).toEqual([1, 1, 1, 1]);
    expect(new Set(first.map((m) => m.messageId)).size).toBe(4);

    await queue.changeVisibility(
      first.map((m) => m.receiptHandle),
      0,
    );
    const again = await queue.receive(2, 1);
    expect(again).toHaveLength(2);
    expect(again.map((m) => m.receiveCount)).toEqual([2, 2]);
  });

  it('extends the lease of a message, and hands it back at once with visibility 0', async () => {
    const queue = await queueWith(1, 1);
    const [message] = await queue.receive(10, 1);
    if (message === undefined) throw new Error('no message');

    await queue.changeVisibility([message.receiptHandle], 60);
    await sleep(1_500);
    // Past the queue's 1 s lease, still held.
    expect(await queue.receive(10, 0)).toEqual([]);
    expect(await visibleCount(queue.queueUrl)).toBe(0);

    await queue.changeVisibility([message.receiptHandle], 0);
    const [back] = await queue.receive(10, 0);
    expect(back?.messageId).toBe(message.messageId);
    expect(back?.receiveCount).toBe(2);
  });

  it('deletes messages in batches of 10, and ignores stale handles', async () => {
    const queue = await queueWith(12);
    const held = [...(await queue.receive(10, 1)), ...(await queue.receive(10, 1))];
    expect(held).toHaveLength(12);
    const handles = held.map((m) => m.receiptHandle);

    await queue.delete(handles);
    expect(await queue.receive(10, 0)).toEqual([]);
    expect(await visibleCount(queue.queueUrl)).toBe(0);

    // Deleted already, or never valid: nothing to do, and no error.
    await queue.delete([...handles, 'not-a-receipt-handle']);
    await queue.changeVisibility(handles.slice(0, 3), 0);
    expect(await visibleCount(queue.queueUrl)).toBe(0);
  });

  it('sends a message that a receive then returns', async () => {
    const queue = await queueWith(0);
    await queue.send('{"rest":true}');
    const [message] = await queue.receive(10, 1);
    expect(message?.body).toBe('{"rest":true}');
    expect(message?.receiveCount).toBe(1);
  });

  it('returns [] when the long poll is aborted, or was aborted before it began', async () => {
    const queue = await queueWith(0);
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 200);
    expect(await queue.receive(10, 20, controller.signal)).toEqual([]);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(await queue.receive(10, 20, controller.signal)).toEqual([]);
  });

  it('throws when the request fails (a queue that does not exist)', async () => {
    const queue = await queueWith(0);
    const gone = new SqsRangeQueueClient(client, `${queue.queueUrl}-missing`);
    await expect(gone.delete(['handle'])).rejects.toThrow();
    await expect(gone.changeVisibility(['handle'], 0)).rejects.toThrow();
  });
});
