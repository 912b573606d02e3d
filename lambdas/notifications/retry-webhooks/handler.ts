import { z } from 'zod';
import type { Deps } from '#core/deps.ts';
import { retryDueDeliveries } from '#core/notifications/deliver-webhooks.ts';
import { workflowHandler } from '../../http/workflow-handler.ts';
import { count, logger } from '../../runtime/powertools.ts';

/**
 * Scheduled every minute: webhook deliveries whose back-off is over (or whose attempt was lost)
 * are attempted again. The delivery records are the schedule: no queue holds them.
 */
export function createHandler(deps: Pick<Deps, 'webhooks' | 'webhookSender' | 'clock' | 'notifications'>) {
  return workflowHandler('retry-webhooks', z.unknown(), async () => {
    const tally = await retryDueDeliveries(deps);
    // A quiet minute writes nothing.
    if (tally.delivered + tally.retry + tally.failed > 0) {
      logger.info('webhook deliveries retried', tally);
      count('WebhooksDelivered', tally.delivered);
      count('WebhookAttemptsFailed', tally.retry + tally.failed);
      count('WebhookDeliveriesFailed', tally.failed);
    }
    return tally;
  });
}
