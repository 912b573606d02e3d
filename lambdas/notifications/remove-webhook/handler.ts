import type { Deps } from '#core/deps.ts';
import { removeWebhook } from '#core/notifications/manage-webhooks.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** DELETE /notifications/webhooks/{webhookId} — one of the caller's webhooks. */
export function createHandler(deps: Pick<Deps, 'webhooks'>) {
  return httpHandler('removeWebhook', ({ params, principal }) =>
    removeWebhook(deps, principal, params.webhookId),
  );
}
