import type { Deps } from '#core/deps.ts';
import { addWebhook } from '#core/notifications/manage-webhooks.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** POST /notifications/webhooks — a webhook for the caller's tasks; its secret is in this answer only. */
export function createHandler(deps: Pick<Deps, 'webhooks' | 'clock' | 'webhookIds' | 'notifications'>) {
  return httpHandler('addWebhook', async ({ body, principal }) => {
    const { owner: _owner, ...webhook } = await addWebhook(deps, principal, body);
    return webhook;
  });
}
