/**
 * The pilot's side of its site queue in SQS: long-poll one message, delete it (acknowledge) or
 * hand it back with a new visibility timeout. Endpoint and region come from the usual AWS settings
 * (`AWS_ENDPOINT_URL_SQS`, `AWS_REGION`); the region defaults to us-east-1. Credentials come from
 * the SDK's default chain unless a provider (vended credentials) is given.
 */
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  type ReceiveMessageCommandOutput,
  type SQSClient,
} from '@aws-sdk/client-sqs';

export interface ReceivedMessage {
  messageId: string;
  body: string;
  receiptHandle: string;
  /** How many times SQS has delivered this message (1 on the first delivery). */
  receiveCount: number;
}

export class SqsSiteQueue {
  private readonly client: SQSClient;
  readonly queueUrl: string;

  constructor(client: SQSClient, queueUrl: string) {
    this.client = client;
    this.queueUrl = queueUrl;
  }

  /** Waits up to waitSec (0–20) for one message; undefined when none came or the wait was aborted. */
  async receive(waitSec: number, signal?: AbortSignal): Promise<ReceivedMessage | undefined> {
    let output: ReceiveMessageCommandOutput;
    try {
      output = await this.client.send(
        new ReceiveMessageCommand({
          QueueUrl: this.queueUrl,
          MaxNumberOfMessages: 1,
          WaitTimeSeconds: Math.max(0, Math.min(20, Math.round(waitSec))),
          MessageSystemAttributeNames: ['ApproximateReceiveCount'],
        }),
        signal === undefined ? {} : { abortSignal: signal },
      );
    } catch (error) {
      if (signal?.aborted) return undefined;
      throw error;
    }
    const message = output.Messages?.[0];
    if (message?.ReceiptHandle === undefined) return undefined;
    return {
      messageId: message.MessageId ?? '',
      body: message.Body ?? '',
      receiptHandle: message.ReceiptHandle,
      receiveCount: Number(message.Attributes?.ApproximateReceiveCount ?? 1),
    };
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
