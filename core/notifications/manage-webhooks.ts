import type { Clock, Principal } from '../deps.ts';
import { NotFoundError, ValidationError } from '../errors.ts';
import type { NotificationSettings, WebhookStore } from './ports.ts';
import type { TaskEndState } from './task-event.ts';
import { allEndStates, type Delivery, type Webhook, webhookUrlIssues } from './webhook.ts';

/** A user may keep this many webhooks. */
export const MAX_WEBHOOKS_PER_OWNER = 20;
/** Deliveries shown per webhook by the listing. */
export const RECENT_DELIVERIES = 5;

export interface WebhookIds {
  webhookId(): string;
  /** A new signing secret (random, at least 256 bits). */
  secret(): string;
}

export interface WebhookDeps {
  webhooks: WebhookStore;
  clock: Clock;
  webhookIds: WebhookIds;
  notifications: Pick<NotificationSettings, 'allowHttpLoopback'>;
}

/** Adds a webhook for the caller's own tasks; the answer carries its secret, the only time it is shown. */
export async function addWebhook(
  deps: WebhookDeps,
  principal: Principal,
  request: { url: string; events?: TaskEndState[] | undefined },
): Promise<Webhook> {
  const issues = webhookUrlIssues(request.url, { allowHttpLoopback: deps.notifications.allowHttpLoopback });
  if (issues.length > 0) throw new ValidationError('invalid webhook', issues);
  const existing = await deps.webhooks.list(principal.sub);
  if (existing.length >= MAX_WEBHOOKS_PER_OWNER) {
    throw new ValidationError('invalid webhook', [
      { field: 'url', message: `at most ${MAX_WEBHOOKS_PER_OWNER} webhooks per user; remove one first` },
    ]);
  }
  const webhook: Webhook = {
    webhookId: deps.webhookIds.webhookId(),
    owner: principal.sub,
    url: request.url,
    events:
      request.events === undefined || request.events.length === 0
        ? allEndStates()
        : [...new Set(request.events)],
    secret: deps.webhookIds.secret(),
    createdAt: deps.clock.now().toISOString(),
  };
  await deps.webhooks.create(webhook);
  return webhook;
}

/** The caller's webhooks (without secrets), each with its latest deliveries. */
export async function listWebhooks(
  deps: Pick<WebhookDeps, 'webhooks'>,
  principal: Principal,
): Promise<Array<Omit<Webhook, 'secret' | 'owner'> & { deliveries: Delivery[] }>> {
  const webhooks = await deps.webhooks.list(principal.sub);
  return Promise.all(
    webhooks.map(async ({ secret: _secret, owner: _owner, ...webhook }) => ({
      ...webhook,
      deliveries: await deps.webhooks.recentDeliveries(principal.sub, webhook.webhookId, RECENT_DELIVERIES),
    })),
  );
}

/** Removes one of the caller's webhooks (another user's is reported missing). */
export async function removeWebhook(
  deps: Pick<WebhookDeps, 'webhooks'>,
  principal: Principal,
  webhookId: string,
): Promise<{ webhookId: string; removed: true }> {
  if (!(await deps.webhooks.remove(principal.sub, webhookId)))
    throw new NotFoundError(`webhook ${webhookId} not found`);
  return { webhookId, removed: true };
}
