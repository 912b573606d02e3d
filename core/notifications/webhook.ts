import type { FieldIssue } from '../errors.ts';
import { TASK_END_STATES, type TaskEndState } from './task-event.ts';

/** A user's subscription: POSTs to `url` when one of their tasks ends in one of `events`. */
export interface Webhook {
  webhookId: string;
  owner: string;
  url: string;
  events: TaskEndState[];
  /** Signs each body (HMAC-SHA256); shown to the owner once, when the webhook is added. */
  secret: string;
  createdAt: string;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

/** One task end sent (or being sent) to one webhook; its key is the idempotency key of the send. */
export interface Delivery {
  owner: string;
  webhookId: string;
  /** taskEventId of the state change: `<at>/<taskId>/<state>`. */
  eventId: string;
  taskId: string;
  state: TaskEndState;
  /** The JSON body as signed and sent, the same on every attempt. */
  body: string;
  status: DeliveryStatus;
  attempts: number;
  /** When the next attempt is due (pending only); while an attempt runs, when it is given up as lost. */
  nextAttemptAt?: string;
  lastStatus?: number;
  lastError?: string;
  createdAt: string;
  updatedAt: string;
}

/** What the deployment allows as webhook URLs (GLUON_WEBHOOK_ALLOW_HTTP_LOOPBACK). */
export interface WebhookUrlRules {
  /** Plain http to 127.0.0.1, ::1 or localhost (a local stack's receivers); https is always allowed. */
  allowHttpLoopback: boolean;
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

/** The issues of a webhook URL under the deployment's rules (empty: allowed). */
export function webhookUrlIssues(url: string, rules: WebhookUrlRules): FieldIssue[] {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return [{ field: 'url', message: 'not a URL' }];
  }
  if (parsed.username !== '' || parsed.password !== '')
    return [{ field: 'url', message: 'must not carry a user or password' }];
  if (parsed.protocol === 'https:') return [];
  if (parsed.protocol === 'http:' && rules.allowHttpLoopback && LOOPBACK_HOSTS.has(parsed.hostname))
    return [];
  return [
    {
      field: 'url',
      message: rules.allowHttpLoopback
        ? 'must be https (plain http only to 127.0.0.1, [::1] or localhost on this deployment)'
        : 'must be https',
    },
  ];
}

/**
 * The headers of every webhook POST but the signature, which the sender adds from the secret
 * (`X-Gluon-Signature: sha256=<hex HMAC-SHA256 of the body>`; crypto is the adapter's).
 */
export function webhookHeaders(eventId: string, sentAt: Date): Record<string, string> {
  return {
    'content-type': 'application/json',
    'user-agent': 'gluon-webhooks',
    'x-gluon-event': 'task.ended',
    'x-gluon-event-id': eventId,
    'x-gluon-timestamp': String(Math.floor(sentAt.getTime() / 1000)),
  };
}

export interface RetrySchedule {
  /** The delay after the first failed attempt; it doubles after each. */
  baseSec: number;
  /** The longest delay between attempts. */
  maxDelaySec: number;
  /** Attempts in all; after the last failed one the delivery is failed. */
  maxAttempts: number;
}

/**
 * The delay before attempt `attempts + 1` after `attempts` failed ones (exponential back-off), or
 * undefined when no attempt is left.
 */
export function retryDelaySec(attempts: number, schedule: RetrySchedule): number | undefined {
  if (attempts >= schedule.maxAttempts) return undefined;
  return Math.min(schedule.maxDelaySec, schedule.baseSec * 2 ** Math.max(0, attempts - 1));
}

export function allEndStates(): TaskEndState[] {
  return [...TASK_END_STATES];
}
