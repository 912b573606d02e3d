/** The policy routes' bodies and answers: shares and the dispatch they steer. */
import { z } from 'zod';
import { ShareTreeSchema } from '../policies/shares.ts';
import { TimeSchema } from './common.ts';

/**
 * The body of PUT /shares: the whole share tree; `expectedVersion` (the version it replaces) makes
 * a change made from a stale read fail with 409 instead of undoing another operator's.
 */
export const PutSharesRequestSchema = ShareTreeSchema.extend({
  expectedVersion: z.number().int().min(0).optional(),
});
export type PutSharesRequest = z.input<typeof PutSharesRequestSchema>;

export const SharesViewSchema = z.object({
  /** 0 while no tree was ever set (the default: every user an equal share). */
  version: z.number().int(),
  updatedAt: TimeSchema.optional(),
  updatedBy: z.string().optional(),
  tree: ShareTreeSchema,
  /** Decayed usage now, in cores of jobs started, by user and group. */
  usage: z.array(z.object({ kind: z.enum(['user', 'group']), name: z.string(), usage: z.number() })),
  /** Tasks in dispatch, in no particular order. */
  dispatch: z.array(
    z.object({
      taskId: z.string(),
      owner: z.string(),
      priority: z.number().int(),
      jobCount: z.number().int(),
      released: z.number().int(),
      paused: z.boolean(),
    }),
  ),
});
export type SharesView = z.infer<typeof SharesViewSchema>;
