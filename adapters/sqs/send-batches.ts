/**
 * Sending to SQS, shared by the queue adapters: SendMessageBatch of at most 10 entries, several
 * batches in flight, the entries that failed sent again with backoff.
 */
import {
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { TransientError } from '#core/errors.ts';
import { backoffDelay, mapBounded, sleep } from '../concurrency.ts';
import { isTransientSdkError, rethrowSdkError } from '../sdk-errors.ts';

/** SQS allows at most 10 entries per batch request (send, delete, change visibility). */
export const BATCH_SIZE = 10;
/** Tries of a batch's failed entries before giving up with a TransientError. */
const SEND_TRIES = 5;
const BATCHES_IN_FLIGHT = 8;

/** Message bodies for one queue. */
export interface QueueSend {
  queueUrl: string;
  bodies: string[];
  /** What goes where, for errors: `job messages to site cern`. */
  what: string;
  delaySec?: number;
}

/** `items` cut into runs of at most `size`, in order. */
export function chunksOf<T>(items: readonly T[], size = BATCH_SIZE): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}

/** Sends every body to its queue; nothing for no bodies. */
export async function sendBatches(client: SQSClient, sends: readonly QueueSend[]): Promise<void> {
  const batches = sends.flatMap((send) => chunksOf(send.bodies).map((bodies) => ({ ...send, bodies })));
  await mapBounded(batches, BATCHES_IN_FLIGHT, (batch) => sendBatch(client, batch));
}

/** One SendMessageBatch; entries that failed are sent again, up to SEND_TRIES times in all. */
async function sendBatch(client: SQSClient, batch: QueueSend): Promise<void> {
  const delaySec = batch.delaySec ?? 0;
  let pending: SendMessageBatchRequestEntry[] = batch.bodies.map((body, i) => ({
    Id: String(i),
    MessageBody: body,
    ...(delaySec > 0 ? { DelaySeconds: delaySec } : {}),
  }));
  let lastFailure = '';
  for (let attempt = 0; attempt < SEND_TRIES && pending.length > 0; attempt++) {
    if (attempt > 0) await sleep(backoffDelay(attempt, 50, 2000));
    try {
      const out = await client.send(
        new SendMessageBatchCommand({ QueueUrl: batch.queueUrl, Entries: pending }),
      );
      const failed = new Set((out.Failed ?? []).map((f) => f.Id));
      lastFailure = (out.Failed ?? []).map((f) => `${f.Code}: ${f.Message ?? ''}`).join('; ');
      pending = pending.filter((entry) => failed.has(entry.Id));
    } catch (error) {
      // A transient failure of the call is retried like failed entries; anything else is a bug.
      if (!isTransientSdkError(error) || attempt === SEND_TRIES - 1) {
        rethrowSdkError(error, `send ${batch.what}`);
      }
      lastFailure = (error as Error).message;
    }
  }
  if (pending.length > 0) {
    throw new TransientError(
      `${pending.length} of the ${batch.what} not sent after ${SEND_TRIES} tries: ${lastFailure}`,
    );
  }
}
