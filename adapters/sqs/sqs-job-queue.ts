import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { type JobMessage, parseJobMessage } from '#core/jobs/job-message.ts';
import type { JobQueue } from '#core/jobs/ports.ts';
import { rethrowSdkError } from '../sdk-errors.ts';
import { cached, createQueuePair, FOURTEEN_DAYS_SEC, lookUpQueueUrl, type QueuePairUrls } from './queues.ts';
import { BATCH_SIZE, chunksOf, sendBatches } from './send-batches.ts';

/** A message received this often without being deleted goes to the DLQ. */
export const MAX_RECEIVE_COUNT = 5;
/** How long a redrive sweep holds the DLQ messages it received: longer than any sweep takes. */
const SWEEP_HOLD_SEC = 30;

/** Queue names of a site: `${prefix}site-${siteId}` and its DLQ `${prefix}site-${siteId}-dlq`. */
export function queueNames(prefix: string, siteId: string): { queue: string; dlq: string } {
  const queue = `${prefix}site-${siteId}`;
  return { queue, dlq: `${queue}-dlq` };
}

/** One SQS job queue per site, each with a DLQ; queue URLs cached in memory per site. */
export class SqsJobQueue implements JobQueue {
  private readonly client: SQSClient;
  private readonly queuePrefix: string;
  private readonly ensured = new Map<string, Promise<QueuePairUrls>>();
  private readonly urls = new Map<string, Promise<string>>();
  private readonly dlqUrls = new Map<string, Promise<string>>();

  constructor(client: SQSClient, queuePrefix: string) {
    this.client = client;
    this.queuePrefix = queuePrefix;
  }

  /** Creates the DLQ, then the queue redriving to it (idempotent; cached per site). */
  ensureSiteQueue(siteId: string): Promise<QueuePairUrls> {
    return cached(this.ensured, siteId, async () => {
      let urls: QueuePairUrls;
      try {
        urls = await createQueuePair(this.client, queueNames(this.queuePrefix, siteId), MAX_RECEIVE_COUNT, {
          VisibilityTimeout: '60',
          ReceiveMessageWaitTimeSeconds: '20',
          MessageRetentionPeriod: String(FOURTEEN_DAYS_SEC),
        });
      } catch (error) {
        rethrowSdkError(error, `ensure queues of site ${siteId}`);
      }
      this.urls.set(siteId, Promise.resolve(urls.queueUrl));
      return urls;
    });
  }

  /** The site queue's URL (cached); NotFoundError when the queue was never created. */
  queueUrl(siteId: string): Promise<string> {
    return cached(this.urls, siteId, () =>
      lookUpQueueUrl(
        this.client,
        queueNames(this.queuePrefix, siteId).queue,
        `no job queue for site ${siteId}`,
      ),
    );
  }

  async send(messages: JobMessage[], options: { delaySec?: number } = {}): Promise<void> {
    const bySite = new Map<string, JobMessage[]>();
    for (const message of messages) {
      const list = bySite.get(message.siteId);
      if (list === undefined) bySite.set(message.siteId, [message]);
      else list.push(message);
    }
    const sends = await Promise.all(
      [...bySite].map(async ([siteId, siteMessages]) => ({
        queueUrl: await this.queueUrl(siteId),
        bodies: siteMessages.map((message) => JSON.stringify(message)),
        what: `job messages to site ${siteId}`,
        ...(options.delaySec === undefined ? {} : { delaySec: options.delaySec }),
      })),
    );
    await sendBatches(this.client, sends);
  }

  async depth(siteId: string): Promise<number> {
    const queueUrl = await this.queueUrl(siteId);
    try {
      const out = await this.client.send(
        new GetQueueAttributesCommand({
          QueueUrl: queueUrl,
          AttributeNames: ['ApproximateNumberOfMessages'],
        }),
      );
      return Number(out.Attributes?.ApproximateNumberOfMessages ?? 0);
    } catch (error) {
      rethrowSdkError(error, `queue depth of site ${siteId}`);
    }
  }

  async redriveDeadLetters(
    siteId: string,
    options: { max: number; delaySec: number },
  ): Promise<{ redriven: number }> {
    const dlq = queueNames(this.queuePrefix, siteId).dlq;
    const url = await cached(this.dlqUrls, siteId, () =>
      lookUpQueueUrl(this.client, dlq, `no queue ${dlq} for site ${siteId}`),
    );
    let redriven = 0;
    // Malformed messages are held back only while this sweep runs (so a batch does not return them
    // again), then made visible at once: they stay in the DLQ for operators to read, not hidden.
    const malformed: string[] = [];
    try {
      while (redriven < options.max) {
        const out = await this.client.send(
          new ReceiveMessageCommand({
            QueueUrl: url,
            // No more than `max` in all: a message received and not redriven would stay hidden.
            MaxNumberOfMessages: Math.min(BATCH_SIZE, options.max - redriven),
            VisibilityTimeout: SWEEP_HOLD_SEC,
            WaitTimeSeconds: 0,
          }),
        );
        const received = out.Messages ?? [];
        if (received.length === 0) break;
        const good: Array<{ message: JobMessage; handle: string }> = [];
        for (const m of received) {
          if (m.ReceiptHandle === undefined) continue;
          try {
            good.push({ message: parseJobMessage(m.Body ?? ''), handle: m.ReceiptHandle });
          } catch {
            malformed.push(m.ReceiptHandle);
          }
        }
        // A batch of nothing but malformed messages ends the sweep: one receive a sweep is their cost.
        if (good.length === 0) break;
        await sendBatches(this.client, [
          {
            queueUrl: await this.queueUrl(siteId),
            bodies: good.map((g) => JSON.stringify(g.message)),
            what: `redriven job messages to site ${siteId}`,
            delaySec: options.delaySec,
          },
        ]);
        await this.client.send(
          new DeleteMessageBatchCommand({
            QueueUrl: url,
            Entries: good.map((g, i) => ({ Id: String(i), ReceiptHandle: g.handle })),
          }),
        );
        redriven += good.length;
      }
      for (const handles of chunksOf(malformed)) {
        await this.client.send(
          new ChangeMessageVisibilityBatchCommand({
            QueueUrl: url,
            Entries: handles.map((handle, j) => ({
              Id: String(j),
              ReceiptHandle: handle,
              VisibilityTimeout: 0,
            })),
          }),
        );
      }
    } catch (error) {
      rethrowSdkError(error, `redrive dead job messages of site ${siteId}`);
    }
    return { redriven };
  }
}
