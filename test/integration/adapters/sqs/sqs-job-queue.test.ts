import {
  GetQueueUrlCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqsClient } from '#adapters/aws-clients.ts';
import { MAX_RECEIVE_COUNT, queueNames, SqsJobQueue } from '#adapters/sqs/sqs-job-queue.ts';
import { NotFoundError } from '#core/errors.ts';
import { type JobMessage, jobMessage, messageClass, parseJobMessage } from '#core/jobs/job-message.ts';
import { RESOURCE_CLASSES } from '#core/jobs/resource-class.ts';
import { queueAttributes, receiveAll } from '#test/support/sqs-queues.ts';
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

function messages(siteId: string, n: number, taskId = 't-sqs000001', attempt = 1): JobMessage[] {
  return Array.from({ length: n }, (_, jobIndex) => ({
    v: 1,
    taskId,
    jobIndex,
    attempt,
    siteId,
    sentAt: 1_764_000_000_000,
  }));
}

function parsedSorted(received: Message[]): JobMessage[] {
  return received
    .map((m) => parseJobMessage(m.Body ?? ''))
    .sort((a, b) => a.taskId.localeCompare(b.taskId) || a.jobIndex - b.jobIndex);
}

/** Puts raw bodies straight into a queue (a DLQ, as SQS does after too many receives). */
async function put(queueUrl: string, bodies: string[]): Promise<void> {
  for (let i = 0; i < bodies.length; i += 10) {
    await client.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: bodies.slice(i, i + 10).map((MessageBody, j) => ({ Id: String(j), MessageBody })),
      }),
    );
  }
}

describe('SqsJobQueue queues', () => {
  it('creates a site queue with its DLQ and the agreed attributes, idempotently', async () => {
    const urls = await queue.ensureSiteQueue('site-a');
    const names = queueNames(prefix, 'site-a');
    expect(names).toEqual({ queue: `${prefix}site-site-a`, dlq: `${prefix}site-site-a-dlq` });
    expect(urls.queueUrl.endsWith(`/${names.queue}`)).toBe(true);
    expect(urls.dlqUrl.endsWith(`/${names.dlq}`)).toBe(true);

    const main = await queueAttributes(client, urls.queueUrl);
    const dlq = await queueAttributes(client, urls.dlqUrl);
    expect(main).toMatchObject({
      VisibilityTimeout: '60',
      ReceiveMessageWaitTimeSeconds: '20',
      MessageRetentionPeriod: String(14 * 24 * 3600),
    });
    expect(JSON.parse(main.RedrivePolicy ?? '{}')).toEqual({
      deadLetterTargetArn: dlq.QueueArn,
      maxReceiveCount: MAX_RECEIVE_COUNT,
    });
    expect(dlq.MessageRetentionPeriod).toBe(String(14 * 24 * 3600));

    expect(await queue.ensureSiteQueue('site-a')).toEqual(urls);
    // A fresh adapter (cold start, empty cache) finds the same queues.
    expect(await new SqsJobQueue(client, prefix).ensureSiteQueue('site-a')).toEqual(urls);
    expect(await new SqsJobQueue(client, prefix).queueUrl('site-a')).toBe(urls.queueUrl);
  });

  it('reports a site without a queue as not found, and finds it once created', async () => {
    await expect(queue.queueUrl('site-none')).rejects.toBeInstanceOf(NotFoundError);
    await expect(queue.send(messages('site-none', 1))).rejects.toBeInstanceOf(NotFoundError);
    await expect(queue.depth('site-none')).rejects.toBeInstanceOf(NotFoundError);
    await expect(queue.redriveDeadLetters('site-none', { max: 10, delaySec: 0 })).rejects.toBeInstanceOf(
      NotFoundError,
    );
    // A failed look-up is not cached.
    const urls = await queue.ensureSiteQueue('site-none');
    expect(await queue.queueUrl('site-none')).toBe(urls.queueUrl);
    expect(await queue.redriveDeadLetters('site-none', { max: 10, delaySec: 0 })).toEqual({ redriven: 0 });
  });
});

describe('SqsJobQueue sending', () => {
  it('sends 25 messages in batches, each to its site, and they all arrive', async () => {
    const a = await queue.ensureSiteQueue('site-send-a');
    const b = await queue.ensureSiteQueue('site-send-b');
    const toA = messages('site-send-a', 25);
    const toB = messages('site-send-b', 3, 't-sqs000002');
    await queue.send([...toA.slice(0, 12), ...toB, ...toA.slice(12)]);

    expect(await queue.depth('site-send-a')).toBe(25);
    expect(await queue.depth('site-send-b')).toBe(3);
    expect(parsedSorted(await receiveAll(client, a.queueUrl, 25))).toEqual(toA);
    expect(parsedSorted(await receiveAll(client, b.queueUrl, 3))).toEqual(toB);
    // Received messages are in flight, not visible.
    expect(await queue.depth('site-send-a')).toBe(0);
  });

  it('sends messages with a delay (a retry back-off): hidden from pilots until it has passed', async () => {
    const urls = await queue.ensureSiteQueue('site-send-delay');
    const delayed = messages('site-send-delay', 2, 't-sqs000007');
    const sentAt = Date.now();
    await queue.send(delayed, { delaySec: 2 });
    const attributes = await queueAttributes(client, urls.queueUrl);
    expect(attributes.ApproximateNumberOfMessages).toBe('0');
    expect(attributes.ApproximateNumberOfMessagesDelayed).toBe('2');
    expect(parsedSorted(await receiveAll(client, urls.queueUrl, 2))).toEqual(delayed);
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(1900);
  });

  it('sends nothing for no messages', async () => {
    await queue.ensureSiteQueue('site-empty');
    await queue.send([]);
    expect(await queue.depth('site-empty')).toBe(0);
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
    expect(receives).toBe(MAX_RECEIVE_COUNT);
    expect(parsedSorted(await receiveAll(client, urls.dlqUrl, 1))).toEqual([message]);
    expect(await queue.depth('site-dlq')).toBe(0);
  });
});

describe('SqsJobQueue resource classes', () => {
  const needs = {
    score: { cores: 1, memoryMB: 2000 },
    mcore: { cores: 8, memoryMB: 16_000 },
    himem: { cores: 1, memoryMB: 6000 },
    gpu: { cores: 1, memoryMB: 4000, gpus: 1 },
  } as const;

  it('makes a queue and a DLQ per class, named by class (single-core: the site queue)', async () => {
    await queue.ensureSiteQueue('site-cls');
    for (const c of RESOURCE_CLASSES) {
      const names = queueNames(prefix, 'site-cls', c);
      expect(names.queue).toBe(c === 'score' ? `${prefix}site-site-cls` : `${prefix}site-site-cls_${c}`);
      const url = await new SqsJobQueue(client, prefix).queueUrl('site-cls', c);
      expect(url.endsWith(`/${names.queue}`)).toBe(true);
      const attributes = await queueAttributes(client, url);
      expect(JSON.parse(attributes.RedrivePolicy ?? '{}').deadLetterTargetArn).toMatch(
        new RegExp(`:${names.dlq}$`),
      );
    }
  });

  it("sends each message to its site's queue of the class its needs say, and counts depth per class", async () => {
    await queue.ensureSiteQueue('site-cls-send');
    const sent = RESOURCE_CLASSES.flatMap((c, i) =>
      Array.from({ length: i + 1 }, (_, j) =>
        jobMessage({ taskId: `t-sqscls00${i}`, jobIndex: j, attempt: 1 }, 'site-cls-send', 1, needs[c]),
      ),
    );
    await queue.send(sent);
    expect(await queue.depth('site-cls-send', ['score'])).toBe(1);
    expect(await queue.depth('site-cls-send', ['mcore', 'gpu'])).toBe(2 + 4);
    expect(await queue.depth('site-cls-send')).toBe(10);
    for (const c of RESOURCE_CLASSES) {
      const url = await queue.queueUrl('site-cls-send', c);
      const got = parsedSorted(await receiveAll(client, url, RESOURCE_CLASSES.indexOf(c) + 1));
      expect(got.map(messageClass)).toEqual(got.map(() => c));
    }
  });

  it('redrives the dead letters of every class back to their own class queue', async () => {
    await queue.ensureSiteQueue('site-cls-dlq');
    const dead = jobMessage({ taskId: 't-sqscls009', jobIndex: 0, attempt: 2 }, 'site-cls-dlq', 1, needs.gpu);
    const dlq = await client.send(
      new GetQueueUrlCommand({ QueueName: queueNames(prefix, 'site-cls-dlq', 'gpu').dlq }),
    );
    await put(dlq.QueueUrl as string, [JSON.stringify(dead)]);
    expect(await queue.redriveDeadLetters('site-cls-dlq', { max: 10, delaySec: 0 })).toEqual({ redriven: 1 });
    expect(parsedSorted(await receiveAll(client, await queue.queueUrl('site-cls-dlq', 'gpu'), 1))).toEqual([
      dead,
    ]);
    expect(await queue.depth('site-cls-dlq', ['score'])).toBe(0);
  });
});

describe('SqsJobQueue redriving dead letters', () => {
  it('moves job messages from the DLQ back to the queue, and leaves malformed ones in the DLQ', async () => {
    const urls = await queue.ensureSiteQueue('site-redrive');
    const dead = messages('site-redrive', 3, 't-sqs000004', 2);
    await put(urls.dlqUrl, [
      JSON.stringify(dead[0]),
      'not json',
      JSON.stringify(dead[1]),
      JSON.stringify({ v: 9, taskId: 't-sqs000004' }),
      JSON.stringify(dead[2]),
    ]);

    expect(await queue.redriveDeadLetters('site-redrive', { max: 100, delaySec: 0 })).toEqual({
      redriven: 3,
    });

    expect(parsedSorted(await receiveAll(client, urls.queueUrl, 3))).toEqual(dead);
    const dlq = await queueAttributes(client, urls.dlqUrl);
    // The malformed ones stay in the DLQ, visible for operators to read; a second sweep moves nothing.
    expect(dlq.ApproximateNumberOfMessages).toBe('2');
    expect(dlq.ApproximateNumberOfMessagesNotVisible).toBe('0');
    expect(await queue.redriveDeadLetters('site-redrive', { max: 100, delaySec: 0 })).toEqual({
      redriven: 0,
    });
    expect((await receiveAll(client, urls.dlqUrl, 2)).map((m) => m.Body).sort()).toEqual(
      ['not json', JSON.stringify({ v: 9, taskId: 't-sqs000004' })].sort(),
    );
  });

  it('moves at most `max` messages per call', async () => {
    const urls = await queue.ensureSiteQueue('site-redrive-max');
    const dead = messages('site-redrive-max', 25, 't-sqs000005');
    await put(
      urls.dlqUrl,
      dead.map((m) => JSON.stringify(m)),
    );

    expect(await queue.redriveDeadLetters('site-redrive-max', { max: 15, delaySec: 0 })).toEqual({
      redriven: 15,
    });
    expect(await queue.depth('site-redrive-max')).toBe(15);
    expect((await queueAttributes(client, urls.dlqUrl)).ApproximateNumberOfMessages).toBe('10');
    expect(await queue.redriveDeadLetters('site-redrive-max', { max: 15, delaySec: 0 })).toEqual({
      redriven: 10,
    });
    expect(parsedSorted(await receiveAll(client, urls.queueUrl, 25))).toEqual(dead);
  });

  it('sends redriven messages with the delay asked for', async () => {
    const urls = await queue.ensureSiteQueue('site-redrive-delay');
    await put(
      urls.dlqUrl,
      messages('site-redrive-delay', 2, 't-sqs000006').map((m) => JSON.stringify(m)),
    );

    expect(await queue.redriveDeadLetters('site-redrive-delay', { max: 10, delaySec: 600 })).toEqual({
      redriven: 2,
    });

    const main = await queueAttributes(client, urls.queueUrl);
    expect(main.ApproximateNumberOfMessages).toBe('0');
    expect(main.ApproximateNumberOfMessagesDelayed).toBe('2');
  });
});
