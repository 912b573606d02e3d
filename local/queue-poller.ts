import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { sleep } from '#platform/sleep.ts';
import { type HandlerMap, invokeHandler } from './lambda-handler.ts';
import { consoleLog, type Log } from './log.ts';

/**
 * The Lambda event source mapping of one of our SQS queues, on one machine: long-polls the queue,
 * hands the messages to the function as an SQS event, deletes those it did not report as batch
 * item failures; the failed ones come back after the queue's visibility timeout (then, past the
 * redrive policy's receives, go to the DLQ), as on AWS.
 */
export interface QueuePollerOptions {
  sqs: SQSClient;
  queueUrl: string;
  queueArn: string;
  functionName: string;
  handlers: HandlerMap;
  /** Messages per invocation (the mapping's BatchSize; SQS receives at most 10). */
  batchSize: number;
  log?: Log;
}

export interface QueuePoller {
  stats(): { batches: number; messages: number; failures: number };
  stop(): Promise<void>;
}

const WAIT_SEC = 1;
const RETRY_MS = 500;

export function startQueuePoller(options: QueuePollerOptions): QueuePoller {
  const log = options.log ?? consoleLog;
  const handler = options.handlers[options.functionName];
  if (handler === undefined) throw new Error(`no handler for queue function ${options.functionName}`);
  const stats = { batches: 0, messages: 0, failures: 0 };
  const stopping = new AbortController();

  const once = async (): Promise<void> => {
    const out = await options.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: options.queueUrl,
        MaxNumberOfMessages: Math.min(10, options.batchSize),
        WaitTimeSeconds: WAIT_SEC,
        MessageSystemAttributeNames: ['All'],
      }),
      { abortSignal: stopping.signal },
    );
    const messages = out.Messages ?? [];
    if (messages.length === 0) return;
    stats.batches += 1;
    stats.messages += messages.length;
    let failed = new Set<string>();
    try {
      const result = (await invokeHandler(
        handler,
        options.functionName,
        sqsEvent(messages, options.queueArn),
      )) as SQSBatchResponse | undefined;
      failed = new Set((result?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
    } catch (error) {
      // A function error fails the whole batch, as on AWS.
      log('warn', `${options.functionName} failed; its messages come back`, { error });
      failed = new Set(messages.map((m) => m.MessageId ?? ''));
    }
    stats.failures += failed.size;
    const done = messages.filter((m) => !failed.has(m.MessageId ?? ''));
    if (done.length > 0) {
      await options.sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: options.queueUrl,
          Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' })),
        }),
      );
    }
  };

  const running = (async () => {
    while (!stopping.signal.aborted) {
      try {
        await once();
      } catch (error) {
        if (stopping.signal.aborted) break;
        log('warn', `polling ${options.functionName}'s queue failed; trying again`, { error });
        await sleep(RETRY_MS);
      }
    }
  })();

  return {
    stats: () => ({ ...stats }),
    async stop() {
      stopping.abort();
      await running;
    },
  };
}

/** The SQS event Lambda hands a function (records with the attributes our handlers read). */
function sqsEvent(messages: Message[], queueArn: string): SQSEvent {
  return {
    Records: messages.map((m) => ({
      messageId: m.MessageId ?? '',
      receiptHandle: m.ReceiptHandle ?? '',
      body: m.Body ?? '',
      attributes: {
        ApproximateReceiveCount: m.Attributes?.ApproximateReceiveCount ?? '1',
        SentTimestamp: m.Attributes?.SentTimestamp ?? String(Date.now()),
        SenderId: m.Attributes?.SenderId ?? 'local',
        ApproximateFirstReceiveTimestamp:
          m.Attributes?.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
      },
      messageAttributes: {},
      md5OfBody: m.MD5OfBody ?? '',
      eventSource: 'aws:sqs',
      eventSourceARN: queueArn,
      awsRegion: 'us-east-1',
    })),
  };
}
