/**
 * In-memory notification ports with the same semantics as the adapters (the webhook store's
 * contract suite runs against both): a recording event bus, the webhook store, a scripted sender.
 */
import type { WebhookIds } from '#core/notifications/manage-webhooks.ts';
import type {
  EventBus,
  NotificationSettings,
  WebhookAnswer,
  WebhookSender,
  WebhookStore,
} from '#core/notifications/ports.ts';
import type { TaskEvent } from '#core/notifications/task-event.ts';
import type { Delivery, Webhook } from '#core/notifications/webhook.ts';

export class RecordingEventBus implements EventBus {
  readonly published: TaskEvent[] = [];
  /** When set, publish throws it and records nothing. */
  failWith: Error | undefined;

  async publish(events: TaskEvent[]): Promise<void> {
    if (this.failWith !== undefined) throw this.failWith;
    this.published.push(...structuredClone(events));
  }
}

const key = (owner: string, webhookId: string, eventId = '') => `${owner}\u0000${webhookId}\u0000${eventId}`;

export class InMemoryWebhookStore implements WebhookStore {
  private readonly webhooks = new Map<string, Webhook>();
  private readonly deliveries = new Map<string, Delivery>();

  async create(webhook: Webhook): Promise<void> {
    this.webhooks.set(key(webhook.owner, webhook.webhookId), structuredClone(webhook));
  }

  async get(owner: string, webhookId: string): Promise<Webhook | undefined> {
    const webhook = this.webhooks.get(key(owner, webhookId));
    return webhook === undefined ? undefined : structuredClone(webhook);
  }

  async list(owner: string): Promise<Webhook[]> {
    return [...this.webhooks.values()]
      .filter((w) => w.owner === owner)
      .sort((a, b) => a.webhookId.localeCompare(b.webhookId))
      .map((w) => structuredClone(w));
  }

  async remove(owner: string, webhookId: string): Promise<boolean> {
    return this.webhooks.delete(key(owner, webhookId));
  }

  async createDelivery(delivery: Delivery): Promise<boolean> {
    const k = key(delivery.owner, delivery.webhookId, delivery.eventId);
    if (this.deliveries.has(k)) return false;
    this.deliveries.set(k, structuredClone(delivery));
    return true;
  }

  async getDelivery(owner: string, webhookId: string, eventId: string): Promise<Delivery | undefined> {
    const delivery = this.deliveries.get(key(owner, webhookId, eventId));
    return delivery === undefined ? undefined : structuredClone(delivery);
  }

  async startAttempt(delivery: Delivery, now: string, lostAt: string): Promise<boolean> {
    const stored = this.deliveries.get(key(delivery.owner, delivery.webhookId, delivery.eventId));
    if (
      stored === undefined ||
      stored.status !== 'pending' ||
      stored.attempts !== delivery.attempts ||
      (stored.nextAttemptAt ?? '') > now
    )
      return false;
    stored.attempts += 1;
    stored.nextAttemptAt = lostAt;
    stored.updatedAt = now;
    return true;
  }

  async endAttempt(
    delivery: Pick<Delivery, 'owner' | 'webhookId' | 'eventId' | 'attempts'>,
    outcome: Parameters<WebhookStore['endAttempt']>[1],
  ): Promise<boolean> {
    const stored = this.deliveries.get(key(delivery.owner, delivery.webhookId, delivery.eventId));
    if (stored === undefined || stored.status !== 'pending' || stored.attempts !== delivery.attempts)
      return false;
    stored.status = outcome.status;
    stored.updatedAt = outcome.at;
    for (const field of ['lastStatus', 'lastError'] as const) {
      if (outcome[field] === undefined) delete stored[field];
      else (stored as unknown as Record<string, unknown>)[field] = outcome[field];
    }
    if (outcome.status === 'pending' && outcome.nextAttemptAt !== undefined)
      stored.nextAttemptAt = outcome.nextAttemptAt;
    else delete stored.nextAttemptAt;
    return true;
  }

  async recentDeliveries(owner: string, webhookId: string, limit: number): Promise<Delivery[]> {
    return [...this.deliveries.values()]
      .filter((d) => d.owner === owner && d.webhookId === webhookId)
      .sort((a, b) => b.eventId.localeCompare(a.eventId))
      .slice(0, limit)
      .map((d) => structuredClone(d));
  }

  async dueDeliveries(now: string, limit: number): Promise<Delivery[]> {
    return [...this.deliveries.values()]
      .filter((d) => d.status === 'pending' && d.nextAttemptAt !== undefined && d.nextAttemptAt <= now)
      .sort((a, b) => (a.nextAttemptAt ?? '').localeCompare(b.nextAttemptAt ?? ''))
      .slice(0, limit)
      .map((d) => structuredClone(d));
  }
}

/** Answers each POST from a script (then the last answer again), recording what was sent. */
export class ScriptedWebhookSender implements WebhookSender {
  readonly sent: Array<Parameters<WebhookSender['post']>[0]> = [];
  answers: WebhookAnswer[] = [{ status: 200 }];

  async post(request: Parameters<WebhookSender['post']>[0]): Promise<WebhookAnswer> {
    this.sent.push(structuredClone(request));
    const answer = this.answers.length > 1 ? this.answers.shift() : this.answers[0];
    return answer ?? { status: 200 };
  }
}

/** `w-000001`, … and secrets `secret-1`, … */
export class SequentialWebhookIds implements WebhookIds {
  private n = 0;
  private s = 0;

  webhookId(): string {
    this.n += 1;
    return `w-${String(this.n).padStart(6, '0')}`;
  }

  secret(): string {
    this.s += 1;
    return `secret-${this.s}`.padEnd(64, '.');
  }
}

export const DEFAULT_NOTIFICATION_SETTINGS: NotificationSettings = {
  allowHttpLoopback: false,
  baseSec: 60,
  maxDelaySec: 3600,
  maxAttempts: 8,
  timeoutMs: 10_000,
};
