import type { SQSClient } from '@aws-sdk/client-sqs';
import { FatalError } from '#core/errors.ts';
import type { TransferQueue } from '#core/transfers/ports.ts';
import type { TransferMessage } from '#core/transfers/rule.ts';
import { sendBatches } from './send-batches.ts';

/** The transfer service's queue (made by CDK, or by the local stack): one message per lock to copy. */
export class SqsTransferQueue implements TransferQueue {
  private readonly client: SQSClient;
  private readonly queueUrl: string | undefined;

  /** No URL: a function not granted the queue; sending is then a configuration error. */
  constructor(client: SQSClient, queueUrl: string | undefined) {
    this.client = client;
    this.queueUrl = queueUrl;
  }

  async send(messages: TransferMessage[], delaySec = 0): Promise<void> {
    if (messages.length === 0) return;
    if (this.queueUrl === undefined)
      throw new FatalError('GLUON_TRANSFER_QUEUE_URL is not set: this function may not send transfers');
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
