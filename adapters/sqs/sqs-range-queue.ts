import { DeleteQueueCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { RangeMessage } from '#core/event-ranges/event-range.ts';
import type { RangeQueue } from '#core/event-ranges/ports.ts';
import { errorName, rethrowSdkError } from '../sdk-errors.ts';
import {
  cached,
  createQueuePair,
  FOURTEEN_DAYS_SEC,
  findQueueUrl,
  lookUpQueueUrl,
  type QueuePairUrls,
} from './queues.ts';
import { sendBatches } from './send-batches.ts';

/**
 * A range message received this often without being deleted goes to the DLQ: the last guard, for
 * a message no consumer can parse. Consumers report a range whose consumers vanished more than
 * maxRangeAttempts + 2 times (at most 12) as failed themselves, before that.
 */
export const RANGE_MAX_RECEIVE_COUNT = 15;

/** Queue names of a task: `${prefix}ranges-${taskId}` and its DLQ `${prefix}ranges-${taskId}-dlq`. */
export function rangeQueueNames(prefix: string, taskId: string): { queue: string; dlq: string } {
  const queue = `${prefix}ranges-${taskId}`;
  return { queue, dlq: `${queue}-dlq` };
}

/** One SQS queue of range messages per event-service task, with its DLQ; URLs cached per task. */
export class SqsRangeQueue implements RangeQueue {
  private readonly client: SQSClient;
  private readonly queuePrefix: string;
  private readonly urls = new Map<string, Promise<string>>();
  private readonly dlqUrls = new Map<string, Promise<string>>();

  constructor(client: SQSClient, queuePrefix: string) {
    this.client = client;
    this.queuePrefix = queuePrefix;
  }

  /**
   * Creates the DLQ, then the queue redriving to it, its visibility timeout the range lease
   * (idempotent: an existing queue is kept as it is).
   */
  async ensureTaskQueue(taskId: string, options: { visibilitySec: number }): Promise<QueuePairUrls> {
    let urls: QueuePairUrls;
    try {
      urls = await createQueuePair(
        this.client,
        rangeQueueNames(this.queuePrefix, taskId),
        RANGE_MAX_RECEIVE_COUNT,
        {
          VisibilityTimeout: String(options.visibilitySec),
          ReceiveMessageWaitTimeSeconds: '20',
          // A task may run for days: its ranges wait as long as SQS keeps anything.
          MessageRetentionPeriod: String(FOURTEEN_DAYS_SEC),
        },
      );
    } catch (error) {
      rethrowSdkError(error, `ensure range queues of task ${taskId}`);
    }
    this.urls.set(taskId, Promise.resolve(urls.queueUrl));
    this.dlqUrls.set(taskId, Promise.resolve(urls.dlqUrl));
    return urls;
  }

  /** The task's range queue URL (cached); NotFoundError when there is no such queue. */
  queueUrl(taskId: string): Promise<string> {
    const { queue } = rangeQueueNames(this.queuePrefix, taskId);
    return cached(this.urls, taskId, () =>
      lookUpQueueUrl(this.client, queue, `no range queue for task ${taskId}`),
    );
  }

  async send(taskId: string, messages: RangeMessage[]): Promise<void> {
    if (messages.length === 0) return;
    await this.sendTo(await this.queueUrl(taskId), messages, `range messages to task ${taskId}`);
  }

  async sendDeadLetters(taskId: string, messages: RangeMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const { dlq } = rangeQueueNames(this.queuePrefix, taskId);
    const dlqUrl = await cached(this.dlqUrls, taskId, () =>
      lookUpQueueUrl(this.client, dlq, `no range DLQ for task ${taskId}`),
    );
    await this.sendTo(dlqUrl, messages, `dead range messages of task ${taskId}`);
  }

  private async sendTo(queueUrl: string, messages: RangeMessage[], what: string): Promise<void> {
    await sendBatches(this.client, [{ queueUrl, bodies: messages.map((m) => JSON.stringify(m)), what }]);
  }

  async deleteTaskQueues(taskId: string): Promise<void> {
    this.urls.delete(taskId);
    this.dlqUrls.delete(taskId);
    const names = rangeQueueNames(this.queuePrefix, taskId);
    try {
      await Promise.all([this.deleteQueue(names.queue), this.deleteQueue(names.dlq)]);
    } catch (error) {
      rethrowSdkError(error, `delete range queues of task ${taskId}`);
    }
  }

  /** DeleteQueue by name; a queue that is not there (never made, or deleted already) is no error. */
  private async deleteQueue(name: string): Promise<void> {
    const url = await findQueueUrl(this.client, name);
    if (url === undefined) return;
    try {
      await this.client.send(new DeleteQueueCommand({ QueueUrl: url }));
    } catch (error) {
      if (errorName(error) !== 'QueueDoesNotExist') throw error;
    }
  }
}
