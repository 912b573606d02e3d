import type { Clock } from '../deps.ts';
import type { NotificationSettings, WebhookSender, WebhookStore } from './ports.ts';
import {
  isTaskEnd,
  TASK_EVENT_DETAIL_TYPE,
  TASK_EVENT_SOURCE,
  type TaskStateChange,
  taskEventId,
} from './task-event.ts';
import { type Delivery, retryDelaySec, webhookHeaders } from './webhook.ts';

export interface DeliveryDeps {
  webhooks: WebhookStore;
  webhookSender: WebhookSender;
  clock: Clock;
  notifications: NotificationSettings;
}

export type AttemptOutcome = 'delivered' | 'retry' | 'failed' | 'taken';

/** Deliveries attempted at once by one retry run. */
const RETRY_CONCURRENCY = 10;
/** An attempt that never reported is given up as lost this long after its POST's timeout. */
const LOST_ATTEMPT_GRACE_MS = 30_000;

/** The body every webhook of a task end gets (the same bytes on every attempt). */
export function webhookBody(change: TaskStateChange): string {
  return JSON.stringify({
    id: taskEventId(change),
    source: TASK_EVENT_SOURCE,
    detailType: TASK_EVENT_DETAIL_TYPE,
    detail: change,
  });
}

/**
 * A task state change reached the delivery function: each of the owner's webhooks that asked for
 * this end gets one delivery, created with a conditional write keyed by (owner, webhook, event id),
 * and its first attempt at once. The same change seen again (a replayed feed batch, a repeated
 * event) finds its deliveries there and sends nothing.
 */
export async function deliverTaskEvent(
  deps: DeliveryDeps,
  change: TaskStateChange,
): Promise<{ deliveries: number; outcomes: AttemptOutcome[] }> {
  const to = change.to;
  if (!isTaskEnd(to)) return { deliveries: 0, outcomes: [] };
  const webhooks = (await deps.webhooks.list(change.owner)).filter((w) => w.events.includes(to));
  const now = deps.clock.now().toISOString();
  const body = webhookBody(change);
  const created: Delivery[] = [];
  for (const webhook of webhooks) {
    const delivery: Delivery = {
      owner: change.owner,
      webhookId: webhook.webhookId,
      eventId: taskEventId(change),
      taskId: change.taskId,
      state: to,
      body,
      status: 'pending',
      attempts: 0,
      nextAttemptAt: now,
      createdAt: now,
      updatedAt: now,
    };
    if (await deps.webhooks.createDelivery(delivery)) created.push(delivery);
  }
  const outcomes = await Promise.all(created.map((d) => attemptDelivery(deps, d)));
  return { deliveries: created.length, outcomes };
}

/**
 * One attempt of a delivery: taken with a conditional write (so two callers never both send it),
 * sent, and its outcome recorded: delivered on a 2xx, else due again after the back-off, or failed
 * when no attempt is left.
 */
export async function attemptDelivery(deps: DeliveryDeps, delivery: Delivery): Promise<AttemptOutcome> {
  const settings = deps.notifications;
  const started = deps.clock.now();
  const lostAt = new Date(started.getTime() + settings.timeoutMs + LOST_ATTEMPT_GRACE_MS).toISOString();
  if (!(await deps.webhooks.startAttempt(delivery, started.toISOString(), lostAt))) return 'taken';
  const attempts = delivery.attempts + 1;
  const key = { owner: delivery.owner, webhookId: delivery.webhookId, eventId: delivery.eventId, attempts };
  const webhook = await deps.webhooks.get(delivery.owner, delivery.webhookId);
  if (webhook === undefined) {
    await deps.webhooks.endAttempt(key, {
      status: 'failed',
      lastError: 'the webhook was removed',
      at: deps.clock.now().toISOString(),
    });
    return 'failed';
  }
  const answer = await deps.webhookSender.post({
    url: webhook.url,
    headers: webhookHeaders(delivery.eventId, started),
    body: delivery.body,
    secret: webhook.secret,
    timeoutMs: settings.timeoutMs,
  });
  const ended = deps.clock.now();
  const ok = 'status' in answer && answer.status >= 200 && answer.status < 300;
  const seen = 'status' in answer ? { lastStatus: answer.status } : { lastError: answer.error };
  if (ok) {
    await deps.webhooks.endAttempt(key, { status: 'delivered', ...seen, at: ended.toISOString() });
    return 'delivered';
  }
  const failure = 'status' in answer ? { ...seen, lastError: `HTTP ${answer.status}` } : seen;
  const delaySec = retryDelaySec(attempts, settings);
  if (delaySec === undefined) {
    await deps.webhooks.endAttempt(key, { status: 'failed', ...failure, at: ended.toISOString() });
    return 'failed';
  }
  await deps.webhooks.endAttempt(key, {
    status: 'pending',
    nextAttemptAt: new Date(ended.getTime() + delaySec * 1000).toISOString(),
    ...failure,
    at: ended.toISOString(),
  });
  return 'retry';
}

/** The scheduled run: every pending delivery that is due (or whose attempt was lost) is attempted again. */
export async function retryDueDeliveries(
  deps: DeliveryDeps,
  limit = 100,
): Promise<Record<AttemptOutcome, number>> {
  const due = await deps.webhooks.dueDeliveries(deps.clock.now().toISOString(), limit);
  const tally: Record<AttemptOutcome, number> = { delivered: 0, retry: 0, failed: 0, taken: 0 };
  for (let i = 0; i < due.length; i += RETRY_CONCURRENCY) {
    const outcomes = await Promise.all(
      due.slice(i, i + RETRY_CONCURRENCY).map((d) => attemptDelivery(deps, d)),
    );
    for (const outcome of outcomes) tally[outcome]++;
  }
  return tally;
}
