import type { SQSClient } from '@aws-sdk/client-sqs';
import type { TransferQueue } from '#core/transfers/ports.ts';
import type { TransferMessage } from '#core/transfers/rule.ts';
import { sendBatches } from './send-batches.ts';

/** The transfer service's queue (made by CDK, or by the local stack): one message per lock to copy. */
export class SqsTransferQueue implements TransferQueue {
  private readonly client: SQSClient;
  private readonly queueUrl: string;

  constructor(client: SQSClient, queueUrl: string) {
    this.client = client;
    this.queueUrl = queueUrl;
  }

  async send(messages: TransferMessage[], delaySec = 0): Promise<void> {
    await sendBatches(this.client, [
      {
        queueUrl: this.queueUrl,
        bodies: messages.map((m) => JSON.stringify(m)),
        what: 'transfer messages',
        ...(delaySec > 0 ? { delaySec: Math.min(900, Math.round(delaySec)) } : {}),
      },
    ]);
  }
}
