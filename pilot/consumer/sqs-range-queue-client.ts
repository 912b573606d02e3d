/**
 * The consumer's side of its task's range queue in SQS: receive up to 10 messages, delete them once
 * their ranges are reported, extend or end (visibility 0) their lease, send back the unstarted rest
 * of a message. Built on the pilot's SQS client (run-command: endpoint, vended credentials).
 */
import {
  type BatchResultErrorEntry,
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { chunksOf } from '#adapters/sqs/send-batches.ts';
import { receiveMessages } from '../receive-messages.ts';
import type { RangeQueueClient, ReceivedRangeMessage } from './range-queue-client.ts';

/** Entry failures of a handle that no longer holds its message (deleted, lease ran out, received again). */
const STALE_HANDLE_CODES = new Set([
  'ReceiptHandleIsInvalid',
  'MessageNotInflight',
  'AWS.SimpleQueueService.MessageNotInflight',
]);

function isStaleHandle(entry: BatchResultErrorEntry): boolean {
  // SQS answers an expired handle with InvalidParameterValue ("The receipt handle has expired").
  return (
    STALE_HANDLE_CODES.has(entry.Code ?? '') ||
    (entry.Code === 'InvalidParameterValue' && /receipt ?handle/i.test(entry.Message ?? ''))
  );
}

export class SqsRangeQueueClient implements RangeQueueClient {
  private readonly client: SQSClient;
  readonly queueUrl: string;

  constructor(client: SQSClient, queueUrl: string) {
    this.client = client;
    this.queueUrl = queueUrl;
  }

  receive(max: number, waitSec: number, signal?: AbortSignal): Promise<ReceivedRangeMessage[]> {
    return receiveMessages(this.client, this.queueUrl, max, waitSec, signal);
  }

  async delete(receiptHandles: string[]): Promise<void> {
    await this.inBatches(
      receiptHandles,
      (handles) =>
        this.client.send(
          new DeleteMessageBatchCommand({
            QueueUrl: this.queueUrl,
            Entries: handles.map((handle, i) => ({ Id: String(i), ReceiptHandle: handle })),
          }),
        ),
      'delete range messages',
    );
  }

  async changeVisibility(receiptHandles: string[], visibilitySec: number): Promise<void> {
    await this.inBatches(
      receiptHandles,
      (handles) =>
        this.client.send(
          new ChangeMessageVisibilityBatchCommand({
            QueueUrl: this.queueUrl,
            Entries: handles.map((handle, i) => ({
              Id: String(i),
              ReceiptHandle: handle,
              VisibilityTimeout: visibilitySec,
            })),
          }),
        ),
      'change the visibility of range messages',
    );
  }

  async send(body: string): Promise<void> {
    await this.client.send(new SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: body }));
  }

  /**
   * One batch request per 10 handles. Entries of stale handles are ignored: their messages are
   * someone else's now, or gone. Any other failed entry, like a failed request, is thrown.
   */
  private async inBatches(
    receiptHandles: string[],
    request: (handles: string[]) => Promise<{ Failed?: BatchResultErrorEntry[] }>,
    what: string,
  ): Promise<void> {
    for (const handles of chunksOf(receiptHandles)) {
      const out = await request(handles);
      const failed = (out.Failed ?? []).filter((entry) => !isStaleHandle(entry));
      if (failed.length > 0) {
        throw new Error(`${what}: ${failed.map((f) => `${f.Code}: ${f.Message ?? ''}`).join('; ')}`);
      }
    }
  }
}
