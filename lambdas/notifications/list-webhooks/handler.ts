import type { Deps } from '#core/deps.ts';
import { listWebhooks } from '#core/notifications/manage-webhooks.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** GET /notifications/webhooks — the caller's webhooks with their latest deliveries. */
export function createHandler(deps: Pick<Deps, 'webhooks'>) {
  return httpHandler('listWebhooks', async ({ principal }) => ({
    items: (await listWebhooks(deps, principal)).map((webhook) => ({
      ...webhook,
      // The body was sent to the receiver; the listing says what happened to it.
      deliveries: webhook.deliveries.map(
        ({ body: _body, owner: _owner, webhookId: _id, ...delivery }) => delivery,
      ),
    })),
  }));
}
