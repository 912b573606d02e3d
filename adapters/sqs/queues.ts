/**
 * Queues made at run time, shared by the queue adapters: a queue with its DLQ (the site queues,
 * the range queues), looked up by name, their URLs cached.
 */
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { NotFoundError, TransientError } from '#core/errors.ts';
import { errorName, rethrowSdkError } from '../sdk-errors.ts';

/** The longest SQS keeps a message: a DLQ holds messages this long for operators to read. */
export const FOURTEEN_DAYS_SEC = 14 * 24 * 3600;

/** SQS names it QueueNameExists; fauxqs's query-compatible code reaches the SDK unmapped. */
const QUEUE_NAME_EXISTS = new Set(['QueueNameExists', 'AWS.SimpleQueueService.QueueNameExists']);

export interface QueuePairUrls {
  queueUrl: string;
  dlqUrl: string;
}

/**
 * Creates the DLQ (messages kept 14 days), then the queue with `attributes` and a redrive policy to
 * the DLQ after `maxReceiveCount` receives. Idempotent; SDK errors are thrown as they are.
 */
export async function createQueuePair(
  client: SQSClient,
  names: { queue: string; dlq: string },
  maxReceiveCount: number,
  attributes: Record<string, string>,
): Promise<QueuePairUrls> {
  const dlqUrl = await createQueue(client, names.dlq, { MessageRetentionPeriod: String(FOURTEEN_DAYS_SEC) });
  const out = await client.send(
    new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }),
  );
  const dlqArn = out.Attributes?.QueueArn;
  if (dlqArn === undefined) throw new TransientError(`no ARN for queue ${names.dlq}`);
  const queueUrl = await createQueue(client, names.queue, {
    ...attributes,
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount }),
  });
  return { queueUrl, dlqUrl };
}

/** CreateQueue; a queue that exists with other attributes is kept as it is. */
async function createQueue(
  client: SQSClient,
  name: string,
  attributes: Record<string, string>,
): Promise<string> {
  try {
    const out = await client.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
    if (out.QueueUrl === undefined) throw new TransientError(`CreateQueue ${name} returned no URL`);
    return out.QueueUrl;
  } catch (error) {
    if (!QUEUE_NAME_EXISTS.has(errorName(error) ?? '')) throw error;
    const url = await findQueueUrl(client, name);
    if (url === undefined) throw new TransientError(`queue ${name} was deleted while being created`);
    return url;
  }
}

/** The URL of the queue named `name`; undefined when there is none. SDK errors are thrown as they are. */
export async function findQueueUrl(client: SQSClient, name: string): Promise<string | undefined> {
  try {
    const out = await client.send(new GetQueueUrlCommand({ QueueName: name }));
    if (out.QueueUrl === undefined) throw new TransientError(`GetQueueUrl ${name} returned no URL`);
    return out.QueueUrl;
  } catch (error) {
    if (errorName(error) === 'QueueDoesNotExist') return undefined;
    throw error;
  }
}

/** The URL of the queue named `name`; NotFoundError with `notFound` when there is none. */
export async function lookUpQueueUrl(client: SQSClient, name: string, notFound: string): Promise<string> {
  let url: string | undefined;
  try {
    url = await findQueueUrl(client, name);
  } catch (error) {
    rethrowSdkError(error, `look up queue ${name}`);
  }
  if (url === undefined) throw new NotFoundError(notFound);
  return url;
}

/** The promise cached under `key`, made when absent; a rejected one is dropped, so the next call tries again. */
export function cached<K, V>(cache: Map<K, Promise<V>>, key: K, make: () => Promise<V>): Promise<V> {
  let value = cache.get(key);
  if (value === undefined) {
    value = make();
    cache.set(key, value);
    const made = value;
    made.catch(() => {
      if (cache.get(key) === made) cache.delete(key);
    });
  }
  return value;
}
