/** Shapes every part of the HTTP API shares: scopes, ids, pages, errors. */
import { z } from 'zod';
import { SiteIdSchema } from '../sites/site.ts';

/** Scopes as the HTTP API JWT authorizer checks them (WLCG token profile names for users). */
export const SCOPES = {
  create: 'compute.create',
  read: 'compute.read',
  cancel: 'compute.cancel',
  /** Steer one's own tasks: pause, resume, priority (WLCG compute.modify). */
  modify: 'compute.modify',
  pilot: 'gluon.pilot',
  /** Operators: define sites (the information system). */
  admin: 'gluon.admin',
} as const;
export type Scope = (typeof SCOPES)[keyof typeof SCOPES];

export const TaskIdSchema = z.string().regex(/^t-[0-9a-z]{6,40}$/, 'a task id such as t-01jd3k…');
export const PilotIdSchema = z.string().regex(/^p-[0-9a-z]{6,40}$/, 'a pilot id such as p-01jd3k…');

export const TaskPathSchema = z.strictObject({ taskId: TaskIdSchema });
export const JobPathSchema = z.strictObject({
  taskId: TaskIdSchema,
  jobIndex: z.coerce.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
});
export const PilotPathSchema = z.strictObject({ pilotId: PilotIdSchema });
export const SitePathSchema = z.strictObject({ siteId: SiteIdSchema });

export const PageQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  nextToken: z.string().max(2048).optional(),
});
export type PageRequest = z.infer<typeof PageQuerySchema>;

/**
 * Every list answers the same shape: a page of items and, when there may be more, the token of the
 * next (a full page carries one even when nothing follows; the page after it is then empty).
 */
export interface Page<T> {
  items: T[];
  nextToken?: string;
}

export function pageOf<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), nextToken: z.string().optional() });
}

export const FieldIssueSchema = z.object({ field: z.string(), message: z.string() });

/** Error body of every 4xx/5xx. `code` is stable (e.g. INVALID_INPUT, NOT_FOUND, PILOT_GONE). */
export const ErrorBodySchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    issues: z.array(FieldIssueSchema).optional(),
  }),
});
export type ErrorBody = z.infer<typeof ErrorBodySchema>;

/** ISO 8601 time, as every API time is given. */
export const TimeSchema = z.string().min(1);
