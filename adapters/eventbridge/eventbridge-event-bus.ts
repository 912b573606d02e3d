import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { FatalError, TransientError } from '#core/errors.ts';
import type { EventBus } from '#core/notifications/ports.ts';
import type { TaskEvent } from '#core/notifications/task-event.ts';
import { rethrowSdkError } from '../sdk-errors.ts';

/** PutEvents takes at most 10 entries per call. */
const PUT_EVENTS_MAX = 10;

/** Task events on an EventBridge bus (a custom bus on AWS; the local stack's bus locally). */
export class EventBridgeEventBus implements EventBus {
  private readonly client: EventBridgeClient;
  /** Unset on functions that do not publish (only the change feed's function is given the bus). */
  private readonly busName: string | undefined;

  constructor(client: EventBridgeClient, busName: string | undefined) {
    this.client = client;
    this.busName = busName;
  }

  async publish(events: TaskEvent[]): Promise<void> {
    if (this.busName === undefined)
      throw new FatalError('GLUON_EVENT_BUS_NAME is not set: this function may not publish task events');
    for (let i = 0; i < events.length; i += PUT_EVENTS_MAX) {
      const entries = events.slice(i, i + PUT_EVENTS_MAX).map((e) => ({
        EventBusName: this.busName,
        Source: e.source,
        DetailType: e.detailType,
        Detail: JSON.stringify(e.detail),
        Resources: [],
        Time: new Date(e.detail.at),
      }));
      let failed: number;
      let reason: string | undefined;
      try {
        const out = await this.client.send(new PutEventsCommand({ Entries: entries }));
        failed = out.FailedEntryCount ?? 0;
        reason = out.Entries?.find((e) => e.ErrorCode !== undefined)?.ErrorMessage;
      } catch (error) {
        rethrowSdkError(error, 'publish task events');
      }
      // The whole batch comes again (consumers dedupe on the event id), so entries that did go are fine to repeat.
      if (failed > 0) throw new TransientError(`${failed} task events not published: ${reason ?? 'unknown'}`);
    }
  }
}
