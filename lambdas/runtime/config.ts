import { z } from 'zod';
import { FatalError, fieldIssues } from '#core/errors.ts';

/**
 * The environment every function reads at cold start. CDK sets it on each function; the local
 * stack sets it on its own process before loading the handler modules. Names are the contract.
 */
export const ConfigSchema = z.object({
  GLUON_TASKS_TABLE: z.string().min(1),
  GLUON_JOBS_TABLE: z.string().min(1),
  GLUON_PILOTS_TABLE: z.string().min(1),
  GLUON_SITES_TABLE: z.string().min(1),
  GLUON_BUCKET: z.string().min(1),
  /** Site queues are named `${prefix}site-${siteId}` (and `-dlq`). */
  GLUON_QUEUE_PREFIX: z.string().min(1),
  GLUON_STATE_MACHINE_ARN: z.string().min(1),
  /** How long a claimed job stays leased without a heartbeat. */
  GLUON_LEASE_SEC: z.coerce.number().int().min(5).default(300),
  /** How long a queued job's message may go unclaimed before the reaper sends it again. */
  GLUON_DISPATCH_LEASE_SEC: z.coerce.number().int().min(5).default(1800),
  /** How often pilots heartbeat (must be well under the lease). */
  GLUON_HEARTBEAT_SEC: z.coerce.number().int().min(1).default(60),
  /** Jobs written and sent per enqueue step. */
  GLUON_ENQUEUE_PAGE_SIZE: z.coerce.number().int().min(1).max(5000).default(500),
  /** A pilot with no heartbeat for this long is marked lost. */
  GLUON_PILOT_LOST_SEC: z.coerce.number().int().min(10).default(900),
  /** Role pilots get short-lived, site-scoped credentials of (STS AssumeRole); unset: pilots bring their own. */
  GLUON_PILOT_ROLE_ARN: z.string().startsWith('arn:').optional(),
});
export type Config = z.infer<typeof ConfigSchema>;

let cached: Config | undefined;

/** Reads and validates the environment once per process (cold start). */
export function config(env: NodeJS.ProcessEnv = process.env): Config {
  if (cached !== undefined && env === process.env) return cached;
  const result = ConfigSchema.safeParse(env);
  if (!result.success) {
    const issues = fieldIssues(result.error.issues);
    throw new FatalError(
      `function environment incomplete: ${issues.map((i) => `${i.field} ${i.message}`).join('; ')}`,
    );
  }
  if (env === process.env) cached = result.data;
  return result.data;
}
