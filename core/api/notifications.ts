/** The notification routes' bodies and answers: webhooks and their deliveries. */
import { z } from 'zod';
import { TASK_END_STATES } from '../notifications/task-event.ts';
import { TaskIdSchema, TimeSchema } from './common.ts';

export const WebhookIdSchema = z.string().regex(/^w-[0-9a-z]{6,40}$/, 'a webhook id such as w-01jd3k…');
export const WebhookPathSchema = z.strictObject({ webhookId: WebhookIdSchema });

export const AddWebhookRequestSchema = z.strictObject({
  /** https (plain http to loopback only where the deployment allows it; checked by the use case). */
  url: z.string().min(1).max(2048),
  /** The task ends to be told of (default: all of them). */
  events: z.array(z.enum(TASK_END_STATES)).max(TASK_END_STATES.length).optional(),
});

export const WebhookSchema = z.object({
  webhookId: WebhookIdSchema,
  url: z.string(),
  events: z.array(z.enum(TASK_END_STATES)),
  createdAt: TimeSchema,
});

/** The answer to adding a webhook: the only time its signing secret is shown. */
export const AddWebhookResponseSchema = WebhookSchema.extend({
  secret: z.string().min(32),
});

export const DeliveryViewSchema = z.object({
  eventId: z.string(),
  taskId: TaskIdSchema,
  state: z.enum(TASK_END_STATES),
  status: z.enum(['pending', 'delivered', 'failed']),
  attempts: z.number().int().nonnegative(),
  /** The receiver's HTTP status on the last attempt, if it answered. */
  lastStatus: z.number().int().optional(),
  lastError: z.string().optional(),
  /** Pending: when the next attempt is due. */
  nextAttemptAt: TimeSchema.optional(),
  createdAt: TimeSchema,
  updatedAt: TimeSchema,
});

export const WebhookListSchema = z.object({
  items: z.array(WebhookSchema.extend({ deliveries: z.array(DeliveryViewSchema) })),
});

export const RemoveWebhookResponseSchema = z.object({ webhookId: WebhookIdSchema, removed: z.literal(true) });
