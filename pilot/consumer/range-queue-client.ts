/** The pilot's side of a task's event-range queue (SQS): what a consumer needs, no more. */

export interface ReceivedRangeMessage {
  messageId: string;
  receiptHandle: string;
  body: string;
  /** SQS ApproximateReceiveCount: how many times the message was received, this time included. */
  receiveCount: number;
}

export interface RangeQueueClient {
  /** Up to `max` (≤ 10) messages, long-polling up to `waitSec`; [] when none came (or aborted). */
  receive(max: number, waitSec: number, signal?: AbortSignal): Promise<ReceivedRangeMessage[]>;
  /** Deletes messages (batches of 10); a handle that is no longer valid is ignored. */
  delete(receiptHandles: string[]): Promise<void>;
  /** Sets the visibility of held messages: extends a range's lease, or (0) hands it back at once. */
  changeVisibility(receiptHandles: string[], visibilitySec: number): Promise<void>;
  /** Sends one message to the queue (the unstarted rest of a message the consumer hands back). */
  send(body: string): Promise<void>;
}
