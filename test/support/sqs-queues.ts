/** For integration tests of SQS adapters: read a queue as a consumer would, without deleting. */
import {
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';

/** Receives (holding them 60 s, not deleting) until `n` messages came or the deadline passed. */
export async function receiveAll(
  client: SQSClient,
  queueUrl: string,
  n: number,
  deadlineMs = 15_000,
): Promise<Message[]> {
  const got: Message[] = [];
  const deadline = Date.now() + deadlineMs;
  while (got.length < n && Date.now() < deadline) {
    const out = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        VisibilityTimeout: 60,
      }),
    );
    got.push(...(out.Messages ?? []));
  }
  return got;
}

/** Every attribute of a queue (counts, timeouts, redrive policy, ARN). */
export async function queueAttributes(client: SQSClient, queueUrl: string): Promise<Record<string, string>> {
  const out = await client.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['All'] }),
  );
  return out.Attributes ?? {};
}
