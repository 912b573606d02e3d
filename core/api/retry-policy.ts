/** The retry policy routes' bodies and answers: the rules' versions, a change, a replay. */
import { z } from 'zod';
import { RetryRuleSetSchema } from '../policies/retry-rules.ts';
import { PageQuerySchema, pageOf, TaskIdSchema, TimeSchema } from './common.ts';

export const RetryPolicyQuerySchema = z.strictObject({
  /** A stored version (1, 2, …) or 0, the built-in rules; the current one when left out. */
  version: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
});
export type RetryPolicyQuery = z.infer<typeof RetryPolicyQuerySchema>;

export const RetryPolicyVersionsQuerySchema = PageQuerySchema;

/** The body of PUT /retry-policy: a whole rule set, which becomes the next version. */
export const PutRetryPolicyRequestSchema = RetryRuleSetSchema;

export const RetryPolicyViewSchema = z.object({
  /** 0: the built-in rules (no version was ever stored). */
  version: z.number().int().nonnegative(),
  current: z.boolean(),
  createdAt: TimeSchema.optional(),
  createdBy: z.string().optional(),
  ruleSet: RetryRuleSetSchema,
});
export type RetryPolicyView = z.infer<typeof RetryPolicyViewSchema>;

export const RetryPolicySummarySchema = z.object({
  version: z.number().int().nonnegative(),
  current: z.boolean(),
  createdAt: TimeSchema.optional(),
  createdBy: z.string().optional(),
  description: z.string().optional(),
  rules: z.number().int().nonnegative(),
});
export type RetryPolicySummary = z.infer<typeof RetryPolicySummarySchema>;

export const RetryPolicyVersionPageSchema = pageOf(RetryPolicySummarySchema);

/** Tasks a replay reads at most, and jobs with failures it replays at most. */
export const REPLAY_MAX_TASKS = 50;
export const REPLAY_MAX_JOBS = 5000;

export const TestRetryPolicyRequestSchema = z.strictObject({
  /** The proposed rules. */
  ruleSet: RetryRuleSetSchema,
  /** Tasks to replay; your most recent ones when left out (operators may name anyone's). */
  taskIds: z.array(TaskIdSchema).min(1).max(REPLAY_MAX_TASKS).optional(),
  /** How many of your most recent tasks, when taskIds is left out. */
  limit: z.number().int().min(1).max(REPLAY_MAX_TASKS).default(10),
});
export type TestRetryPolicyRequest = z.infer<typeof TestRetryPolicyRequestSchema>;

const ReplayStepSchema = z.object({
  decision: z.enum(['retry', 'fail', 'stopped']),
  rule: z.union([z.number().int(), z.literal('otherwise')]).optional(),
  action: z.string().optional(),
  spendsAttempt: z.boolean().optional(),
  backoffSec: z.number().int().optional(),
  next: z.object({ memoryMB: z.number(), walltimeSec: z.number() }).optional(),
});

export const JobReplayViewSchema = z.object({
  taskId: TaskIdSchema,
  jobIndex: z.number().int().nonnegative(),
  outcome: z.enum(['rescued', 'stops-retrying', 'changed']),
  /** The first recorded failure the two rule sets decide differently. */
  attempt: z.number().int().optional(),
  pilotErrorCode: z.number().int().optional(),
  exitCode: z.number().int().optional(),
  current: ReplayStepSchema.optional(),
  proposed: ReplayStepSchema.optional(),
  extraMemoryMB: z.number(),
  extraWalltimeSec: z.number(),
});
export type JobReplayView = z.infer<typeof JobReplayViewSchema>;

export const TestRetryPolicyResponseSchema = z.object({
  /** The version the proposed rules are compared with. */
  currentVersion: z.number().int().nonnegative(),
  tasks: z.array(TaskIdSchema),
  /** Jobs with at least one recorded failure, replayed. */
  jobs: z.number().int(),
  failures: z.number().int(),
  jobsRescued: z.number().int(),
  jobsStopRetrying: z.number().int(),
  jobsChanged: z.number().int(),
  /** Memory (MB) and walltime (s) the attempts after the recorded failures would ask for, proposed − current. */
  extraMemoryMB: z.number(),
  extraWalltimeSec: z.number(),
  /** More jobs had failures than a replay reads (REPLAY_MAX_JOBS). */
  truncated: z.boolean(),
  /** The jobs the proposed rules treat differently (the first 100). */
  changes: z.array(JobReplayViewSchema),
});
export type TestRetryPolicyResponse = z.infer<typeof TestRetryPolicyResponseSchema>;
