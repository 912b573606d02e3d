/**
 * The pilot's side of its site queue in SQS: long-poll one message, delete it (acknowledge) or
 * hand it back with a new visibility timeout. Endpoint and region come from the usual AWS settings
 * (`AWS_ENDPOINT_URL_SQS`, `AWS_REGION`); the region defaults to us-east-1. Credentials come from
 * the SDK's default chain unless a provider (vended credentials) is given.
 */
import { ChangeMessageVisibilityCommand, DeleteMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { type ReceivedMessage, receiveMessages } from './receive-messages.ts';

export type { ReceivedMessage } from './receive-messages.ts';

export class SqsSiteQueue {
  private readonly client: SQSClient;
  readonly queueUrl: string;

  constructor(client: SQSClient, queueUrl: string) {
    this.client = client;
    this.queueUrl = queueUrl;
  }

  /** Waits up to waitSec (0–20) for one message; undefined when none came or the wait was aborted. */
  async receive(waitSec: number, signal?: AbortSignal): Promise<ReceivedMessage | undefined> {
    const [message] = await receiveMessages(this.client, this.queueUrl, 1, waitSec, signal);
    return message;
  }

  /** Acknowledges a message: it will not be delivered again. */
  async delete(receiptHandle: string): Promise<void> {
    await this.client.send(
      new DeleteMessageCommand({ QueueUrl: this.queueUrl, ReceiptHandle: receiptHandle }),
    );
  }

  /** Makes a message visible again after visibilitySec (0: at once); it counts as one more receive. */
  async release(receiptHandle: string, visibilitySec: number): Promise<void> {
    await this.client.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: this.queueUrl,
        ReceiptHandle: receiptHandle,
        VisibilityTimeout: visibilitySec,
      }),
    );
  }
}
