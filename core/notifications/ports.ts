import type { TaskEvent } from './task-event.ts';
import type { Delivery, RetrySchedule, Webhook } from './webhook.ts';

/** Where task state changes go: EventBridge on AWS, the local stack's bus locally. */
export interface EventBus {
  /** All or nothing from the caller's view: a failure throws (the caller's batch comes again). */
  publish(events: TaskEvent[]): Promise<void>;
}

/** Webhooks and their deliveries. Every write is conditional. */
export interface WebhookStore {
  create(webhook: Webhook): Promise<void>;
  get(owner: string, webhookId: string): Promise<Webhook | undefined>;
  /** The owner's webhooks, oldest first. */
  list(owner: string): Promise<Webhook[]>;
  /** False when the owner has no such webhook. Its deliveries stay until they expire. */
  remove(owner: string, webhookId: string): Promise<boolean>;
  /**
   * Stores a new delivery (pending, no attempt yet); false, writing nothing, when one with its key
   * (owner, webhook, event id) exists: the same task end seen again.
   */
  createDelivery(delivery: Delivery): Promise<boolean>;
  getDelivery(owner: string, webhookId: string, eventId: string): Promise<Delivery | undefined>;
  /**
   * Takes the next attempt of a pending delivery that has `attempts` attempts and is due at `now`:
   * one more attempt, due again at `lostAt` (if this attempt never reports). False when another
   * caller took it, or it is not due, or no longer pending.
   */
  startAttempt(delivery: Delivery, now: string, lostAt: string): Promise<boolean>;
  /** Records the outcome of the attempt taken with startAttempt (attempts as it made them). */
  endAttempt(
    delivery: Pick<Delivery, 'owner' | 'webhookId' | 'eventId' | 'attempts'>,
    outcome: {
      status: 'pending' | 'delivered' | 'failed';
      nextAttemptAt?: string;
      lastStatus?: number;
      lastError?: string;
      at: string;
    },
  ): Promise<boolean>;
  /** The webhook's latest deliveries, newest first. */
  recentDeliveries(owner: string, webhookId: string, limit: number): Promise<Delivery[]>;
  /** Pending deliveries due at `now` (those whose attempt was lost too), oldest due first. */
  dueDeliveries(now: string, limit: number): Promise<Delivery[]>;
}

/** What a webhook receiver answered (status), or why it could not be reached (error). */
export type WebhookAnswer = { status: number } | { error: string };

/** Sends one webhook POST, signed: `X-Gluon-Signature: sha256=<hex HMAC-SHA256 of body keyed with secret>`. */
export interface WebhookSender {
  post(request: {
    url: string;
    headers: Record<string, string>;
    body: string;
    secret: string;
    timeoutMs: number;
  }): Promise<WebhookAnswer>;
}

export interface NotificationSettings extends RetrySchedule {
  allowHttpLoopback: boolean;
  /** One POST's timeout. */
  timeoutMs: number;
}
