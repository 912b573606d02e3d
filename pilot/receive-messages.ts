/** Receiving from SQS, shared by the pilot's queue clients (its site queue, a task's range queue). */
import { ReceiveMessageCommand, type ReceiveMessageCommandOutput, type SQSClient } from '@aws-sdk/client-sqs';

export interface ReceivedMessage {
  messageId: string;
  body: string;
  receiptHandle: string;
  /** How many times SQS has delivered this message (1 on the first delivery). */
  receiveCount: number;
}

/**
 * Waits up to waitSec (0–20) for up to `max` (1–10) messages; [] when none came or the wait was
 * aborted.
 */
export async function receiveMessages(
  client: SQSClient,
  queueUrl: string,
  max: number,
  waitSec: number,
  signal?: AbortSignal,
): Promise<ReceivedMessage[]> {
  if (signal?.aborted) return [];
  let output: ReceiveMessageCommandOutput;
  try {
    output = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: Math.max(1, Math.min(10, Math.floor(max))),
        WaitTimeSeconds: Math.max(0, Math.min(20, Math.round(waitSec))),
        MessageSystemAttributeNames: ['ApproximateReceiveCount'],
      }),
      signal === undefined ? {} : { abortSignal: signal },
    );
  } catch (error) {
    if (signal?.aborted) return [];
    throw error;
  }
  const received: ReceivedMessage[] = [];
  for (const message of output.Messages ?? []) {
    if (message.ReceiptHandle === undefined) continue;
    received.push({
      messageId: message.MessageId ?? '',
      body: message.Body ?? '',
      receiptHandle: message.ReceiptHandle,
      receiveCount: Number(message.Attributes?.ApproximateReceiveCount ?? 1),
    });
  }
  return received;
}
