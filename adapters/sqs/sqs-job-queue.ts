import {
  ChangeMessageVisibilityBatchCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { NotFoundError, TransientError } from '#core/errors.ts';
import { type JobMessage, parseJobMessage } from '#core/jobs/job-message.ts';
import type { JobQueue } from '#core/jobs/ports.ts';
import { backoffDelay, mapBounded, sleep } from '../concurrency.ts';
import { errorName, isTransientSdkError, rethrowSdkError } from '../sdk-errors.ts';

/** SQS allows at most 10 entries per SendMessageBatch. */
const BATCH_SIZE = 10;
/** Tries of a batch's failed entries before giving up with a TransientError. */
const SEND_TRIES = 5;
const BATCHES_IN_FLIGHT = 8;
/** A message received this often without being deleted goes to the DLQ. */
export const MAX_RECEIVE_COUNT = 5;
const FOURTEEN_DAYS_SEC = 14 * 24 * 3600;
/** How long a redrive sweep holds the DLQ messages it received: longer than any sweep takes. */
const SWEEP_HOLD_SEC = 30;

/** Queue names of a site: `${prefix}site-${siteId}` and its DLQ `${prefix}site-${siteId}-dlq`. */
export function queueNames(prefix: string, siteId: string): { queue: string; dlq: string } {
  const queue = `${prefix}site-${siteId}`;
  return { queue, dlq: `${queue}-dlq` };
}

interface SiteQueueUrls {
  queueUrl: string;
  dlqUrl: string;
}

/** One SQS job queue per site, each with a DLQ; queue URLs cached in memory per site. */
export class SqsJobQueue implements JobQueue {
  private readonly client: SQSClient;
  private readonly queuePrefix: string;
  private readonly ensured = new Map<string, Promise<SiteQueueUrls>>();
  private readonly urls = new Map<string, Promise<string>>();
  private readonly dlqUrls = new Map<string, Promise<string>>();

  constructor(client: SQSClient, queuePrefix: string) {
    this.client = client;
    this.queuePrefix = queuePrefix;
  }

  /** Creates the DLQ, then the queue redriving to it (idempotent; cached per site). */
  ensureSiteQueue(siteId: string): Promise<SiteQueueUrls> {
    let ensured = this.ensured.get(siteId);
    if (ensured === undefined) {
      ensured = this.createSiteQueues(siteId);
      this.ensured.set(siteId, ensured);
      ensured.then(
        ({ queueUrl }) => this.urls.set(siteId, Promise.resolve(queueUrl)),
        () => this.ensured.delete(siteId),
      );
    }
    return ensured;
  }

  private async createSiteQueues(siteId: string): Promise<SiteQueueUrls> {
    const names = queueNames(this.queuePrefix, siteId);
    try {
      const dlqUrl = await this.createQueue(names.dlq, { MessageRetentionPeriod: String(FOURTEEN_DAYS_SEC) });
      const attributes = await this.client.send(
        new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }),
      );
      const dlqArn = attributes.Attributes?.QueueArn;
      if (dlqArn === undefined) throw new TransientError(`no ARN for queue ${names.dlq}`);
      const queueUrl = await this.createQueue(names.queue, {
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: MAX_RECEIVE_COUNT }),
        VisibilityTimeout: '60',
        ReceiveMessageWaitTimeSeconds: '20',
        MessageRetentionPeriod: String(FOURTEEN_DAYS_SEC),
      });
      return { queueUrl, dlqUrl };
    } catch (error) {
      rethrowSdkError(error, `ensure queues of site ${siteId}`);
    }
  }

  /** CreateQueue; a queue that exists with other attributes is kept as it is. */
  private async createQueue(name: string, attributes: Record<string, string>): Promise<string> {
    try {
      const out = await this.client.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
      if (out.QueueUrl === undefined) throw new TransientError(`CreateQueue ${name} returned no URL`);
      return out.QueueUrl;
    } catch (error) {
      if (errorName(error) !== 'QueueNameExists') throw error;
      const out = await this.client.send(new GetQueueUrlCommand({ QueueName: name }));
      if (out.QueueUrl === undefined) throw new TransientError(`GetQueueUrl ${name} returned no URL`);
      return out.QueueUrl;
    }
  }

  /** The site queue's URL (cached); NotFoundError when the queue was never created. */
  queueUrl(siteId: string): Promise<string> {
    let url = this.urls.get(siteId);
    if (url === undefined) {
      url = this.lookUpQueueUrl(siteId);
      this.urls.set(siteId, url);
      url.catch(() => this.urls.delete(siteId));
    }
    return url;
  }

  private async lookUpQueueUrl(siteId: string): Promise<string> {
    const { queue } = queueNames(this.queuePrefix, siteId);
    try {
      const out = await this.client.send(new GetQueueUrlCommand({ QueueName: queue }));
      if (out.QueueUrl === undefined) throw new TransientError(`GetQueueUrl ${queue} returned no URL`);
      return out.QueueUrl;
    } catch (error) {
      if (errorName(error) === 'QueueDoesNotExist')
        throw new NotFoundError(`no job queue for site ${siteId}`);
      rethrowSdkError(error, `look up queue of site ${siteId}`);
    }
  }

  async send(messages: JobMessage[]): Promise<void> {
    const bySite = new Map<string, JobMessage[]>();
    for (const message of messages) {
      const list = bySite.get(message.siteId);
      if (list === undefined) bySite.set(message.siteId, [message]);
      else list.push(message);
    }
    const batches: Array<{ siteId: string; messages: JobMessage[] }> = [];
    for (const [siteId, siteMessages] of bySite) {
      for (let i = 0; i < siteMessages.length; i += BATCH_SIZE) {
        batches.push({ siteId, messages: siteMessages.slice(i, i + BATCH_SIZE) });
      }
    }
    await mapBounded(batches, BATCHES_IN_FLIGHT, (batch) => this.sendBatch(batch.siteId, batch.messages));
  }

  /** One SendMessageBatch; entries that failed are sent again, up to SEND_TRIES times in all. */
  private async sendBatch(siteId: string, messages: JobMessage[], delaySec = 0): Promise<void> {
    const queueUrl = await this.queueUrl(siteId);
    let pending: SendMessageBatchRequestEntry[] = messages.map((message, i) => ({
      Id: String(i),
      MessageBody: JSON.stringify(message),
      ...(delaySec > 0 ? { DelaySeconds: delaySec } : {}),
    }));
    let lastFailure = '';
    for (let attempt = 0; attempt < SEND_TRIES && pending.length > 0; attempt++) {
      if (attempt > 0) await sleep(backoffDelay(attempt, 50, 2000));
      try {
        const out = await this.client.send(
          new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: pending }),
        );
        const failed = new Set((out.Failed ?? []).map((f) => f.Id));
        lastFailure = (out.Failed ?? []).map((f) => `${f.Code}: ${f.Message ?? ''}`).join('; ');
        pending = pending.filter((entry) => failed.has(entry.Id));
      } catch (error) {
        // A transient failure of the call is retried like failed entries; anything else is a bug.
        if (!isTransientSdkError(error) || attempt === SEND_TRIES - 1) {
          rethrowSdkError(error, `send job messages to site ${siteId}`);
        }
        lastFailure = (error as Error).message;
      }
    }
    if (pending.length > 0) {
      throw new TransientError(
        `${pending.length} job message(s) to site ${siteId} not sent after ${SEND_TRIES} tries: ${lastFailure}`,
      );
    }
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
    let dlqUrl = this.dlqUrls.get(siteId);
    if (dlqUrl === undefined) {
      dlqUrl = this.lookUp(queueNames(this.queuePrefix, siteId).dlq, siteId);
      this.dlqUrls.set(siteId, dlqUrl);
      dlqUrl.catch(() => this.dlqUrls.delete(siteId));
    }
    const url = await dlqUrl;
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
        await this.sendBatch(
          siteId,
          good.map((g) => g.message),
          options.delaySec,
        );
        await this.client.send(
          new DeleteMessageBatchCommand({
            QueueUrl: url,
            Entries: good.map((g, i) => ({ Id: String(i), ReceiptHandle: g.handle })),
          }),
        );
        redriven += good.length;
      }
      for (let i = 0; i < malformed.length; i += BATCH_SIZE) {
        await this.client.send(
          new ChangeMessageVisibilityBatchCommand({
            QueueUrl: url,
            Entries: malformed.slice(i, i + BATCH_SIZE).map((handle, j) => ({
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

  private async lookUp(name: string, siteId: string): Promise<string> {
    try {
      const out = await this.client.send(new GetQueueUrlCommand({ QueueName: name }));
      if (out.QueueUrl === undefined) throw new TransientError(`GetQueueUrl ${name} returned no URL`);
      return out.QueueUrl;
    } catch (error) {
      if (errorName(error) === 'QueueDoesNotExist')
        throw new NotFoundError(`no queue ${name} for site ${siteId}`);
      rethrowSdkError(error, `look up queue ${name}`);
    }
  }
}
