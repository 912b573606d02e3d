import type { Logger } from '#platform/logger.ts';

/**
 * Logs a queue message that does not parse (site queue or range queue). Such a message is never
 * deleted: made visible again at once, SQS moves it to the queue's DLQ after its receive limit.
 */
export function logMalformedMessage(
  logger: Logger,
  kind: 'job' | 'range',
  message: { messageId: string; receiveCount: number; body: string },
  error: unknown,
): void {
  logger.error(`malformed ${kind} message; leaving it for the dead-letter queue`, {
    messageId: message.messageId,
    receiveCount: message.receiveCount,
    body: message.body.slice(0, 500),
    error,
  });
}
