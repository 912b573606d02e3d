/** The replication rule routes' bodies and answers (`/catalog/rules`). */
import { z } from 'zod';
import { DidSchema } from '../catalog/did.ts';
import { RULE_STATES, RuleIdSchema, RuleRequestSchema } from '../transfers/rule.ts';
import { PageQuerySchema, pageOf, TimeSchema } from './common.ts';

export const AddRuleRequestSchema = RuleRequestSchema;
export const RulePathSchema = z.strictObject({ ruleId: RuleIdSchema });
export const RuleListQuerySchema = PageQuerySchema.extend({ did: DidSchema.optional() });

export const RuleSchema = z.object({
  ruleId: RuleIdSchema,
  owner: z.string(),
  did: z.string(),
  didType: z.enum(['dataset', 'file']),
  copies: z.number().int(),
  endpoints: z.array(z.string()),
  state: z.enum(RULE_STATES),
  /** Locks (one per file and chosen endpoint) by state; `files` the files the rule covers. */
  counters: z.object({
    files: z.number().int().nonnegative(),
    available: z.number().int().nonnegative(),
    copying: z.number().int().nonnegative(),
    failed: z.number().int().nonnegative(),
  }),
  taskId: z.string().optional(),
  createdAt: TimeSchema,
  updatedAt: TimeSchema,
  expiresAt: TimeSchema.optional(),
});

export const RuleListSchema = pageOf(RuleSchema);
