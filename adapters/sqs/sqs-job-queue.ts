import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { type JobMessage, messageClass, parseJobMessage } from '#core/jobs/job-message.ts';
import type { JobQueue } from '#core/jobs/ports.ts';
import { RESOURCE_CLASSES, type ResourceClass } from '#core/jobs/resource-class.ts';
import { rethrowSdkError } from '../sdk-errors.ts';
import { cached, createQueuePair, FOURTEEN_DAYS_SEC, lookUpQueueUrl, type QueuePairUrls } from './queues.ts';
import { BATCH_SIZE, chunksOf, sendBatches } from './send-batches.ts';

/** A message received this often without being deleted goes to the DLQ. */
export const MAX_RECEIVE_COUNT = 5;
/** How long a redrive sweep holds the DLQ messages it received: longer than any sweep takes. */
const SWEEP_HOLD_SEC = 30;

/**
 * Queue names of a site's class: `${prefix}site-${siteId}` for single-core jobs, and
 * `${prefix}site-${siteId}_${class}` for the others (site ids hold no `_`, so no two sites'
 * names meet), each with its DLQ `…-dlq`.
 */
export function queueNames(
  prefix: string,
  siteId: string,
  resourceClass: ResourceClass = 'score',
): { queue: string; dlq: string } {
  const queue = `${prefix}site-${siteId}${resourceClass === 'score' ? '' : `_${resourceClass}`}`;
  return { queue, dlq: `${queue}-dlq` };
}

/** Cache key of a site's class queue. */
const keyOf = (siteId: string, resourceClass: ResourceClass) => `${siteId}/${resourceClass}`;

/** SQS job queues per site and resource class, each with a DLQ; queue URLs cached in memory. */
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

  /** Creates each class's DLQ, then its queue redriving to it (idempotent; cached per site). */
  ensureSiteQueue(siteId: string): Promise<QueuePairUrls> {
    return cached(this.ensured, siteId, async () => {
      const all = await Promise.all(
        RESOURCE_CLASSES.map(async (resourceClass) => {
          let urls: QueuePairUrls;
          try {
            urls = await createQueuePair(
              this.client,
              queueNames(this.queuePrefix, siteId, resourceClass),
              MAX_RECEIVE_COUNT,
              {
                VisibilityTimeout: '60',
                ReceiveMessageWaitTimeSeconds: '20',
                MessageRetentionPeriod: String(FOURTEEN_DAYS_SEC),
              },
            );
          } catch (error) {
            rethrowSdkError(error, `ensure the ${resourceClass} queues of site ${siteId}`);
          }
          this.urls.set(keyOf(siteId, resourceClass), Promise.resolve(urls.queueUrl));
          return urls;
        }),
      );
      return all[0] as QueuePairUrls;
    });
  }

  /** The URL of the site's queue of a class (cached); NotFoundError when it was never created. */
  queueUrl(siteId: string, resourceClass: ResourceClass = 'score'): Promise<string> {
    return cached(this.urls, keyOf(siteId, resourceClass), () =>
      lookUpQueueUrl(
        this.client,
        queueNames(this.queuePrefix, siteId, resourceClass).queue,
        `no ${resourceClass} job queue for site ${siteId}`,
      ),
    );
  }

  async send(messages: JobMessage[], options: { delaySec?: number } = {}): Promise<void> {
    const byQueue = new Map<string, { siteId: string; resourceClass: ResourceClass; list: JobMessage[] }>();
    for (const message of messages) {
      const resourceClass = messageClass(message);
      const key = keyOf(message.siteId, resourceClass);
      const group = byQueue.get(key);
      if (group === undefined) byQueue.set(key, { siteId: message.siteId, resourceClass, list: [message] });
      else group.list.push(message);
    }
    const sends = await Promise.all(
      [...byQueue.values()].map(async ({ siteId, resourceClass, list }) => ({
        queueUrl: await this.queueUrl(siteId, resourceClass),
        bodies: list.map((message) => JSON.stringify(message)),
        what: `${resourceClass} job messages to site ${siteId}`,
        ...(options.delaySec === undefined ? {} : { delaySec: options.delaySec }),
      })),
    );
    await sendBatches(this.client, sends);
  }

  async depth(siteId: string, classes: readonly ResourceClass[] = RESOURCE_CLASSES): Promise<number> {
    const depths = await Promise.all(
      classes.map(async (resourceClass) => {
        const queueUrl = await this.queueUrl(siteId, resourceClass);
        try {
          const out = await this.client.send(
            new GetQueueAttributesCommand({
              QueueUrl: queueUrl,
              AttributeNames: ['ApproximateNumberOfMessages'],
            }),
          );
          return Number(out.Attributes?.ApproximateNumberOfMessages ?? 0);
        } catch (error) {
          rethrowSdkError(error, `depth of the ${resourceClass} queue of site ${siteId}`);
        }
      }),
    );
    return depths.reduce((sum, n) => sum + n, 0);
  }

  async redriveDeadLetters(
    siteId: string,
    options: { max: number; delaySec: number },
  ): Promise<{ redriven: number }> {
    let redriven = 0;
    for (const resourceClass of RESOURCE_CLASSES) {
      if (redriven >= options.max) break;
      const left = { max: options.max - redriven, delaySec: options.delaySec };
      redriven += (await this.redriveClass(siteId, resourceClass, left)).redriven;
    }
    return { redriven };
  }

  private async redriveClass(
    siteId: string,
    resourceClass: ResourceClass,
    options: { max: number; delaySec: number },
  ): Promise<{ redriven: number }> {
    const dlq = queueNames(this.queuePrefix, siteId, resourceClass).dlq;
    const url = await cached(this.dlqUrls, keyOf(siteId, resourceClass), () =>
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
            queueUrl: await this.queueUrl(siteId, resourceClass),
            bodies: good.map((g) => JSON.stringify(g.message)),
            what: `redriven ${resourceClass} job messages to site ${siteId}`,
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
      rethrowSdkError(error, `redrive dead ${resourceClass} job messages of site ${siteId}`);
    }
    return { redriven };
  }
}
