import { z } from 'zod';
import type { Deps } from '#core/deps.ts';
import { deliverTaskEvent } from '#core/notifications/deliver-webhooks.ts';
import {
  TASK_EVENT_DETAIL_TYPE,
  TASK_EVENT_SOURCE,
  TaskStateChangeSchema,
} from '#core/notifications/task-event.ts';
import { workflowHandler } from '../../http/workflow-handler.ts';
import { count, logger } from '../../runtime/powertools.ts';

/** A task event as an EventBridge rule hands it to its target. */
const TaskEventEnvelopeSchema = z.object({
  source: z.literal(TASK_EVENT_SOURCE),
  'detail-type': z.literal(TASK_EVENT_DETAIL_TYPE),
  detail: TaskStateChangeSchema,
});

/**
 * The rule's target for task ends: one delivery per matching webhook of the owner, first attempt
 * at once; failed attempts are retried by retry-webhooks. A repeated event sends nothing again.
 */
export function createHandler(deps: Pick<Deps, 'webhooks' | 'webhookSender' | 'clock' | 'notifications'>) {
  return workflowHandler('deliver-webhooks', TaskEventEnvelopeSchema, async (event) => {
    const result = await deliverTaskEvent(deps, event.detail);
    if (result.deliveries > 0) {
      const outcomes = (o: string) => result.outcomes.filter((x) => x === o).length;
      logger.info('task end sent to webhooks', {
        taskId: event.detail.taskId,
        state: event.detail.to,
        deliveries: result.deliveries,
        delivered: outcomes('delivered'),
      });
      count('WebhooksDelivered', outcomes('delivered'));
      count('WebhookAttemptsFailed', outcomes('retry') + outcomes('failed'));
    }
    return { deliveries: result.deliveries };
  });
}
