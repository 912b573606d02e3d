import { z } from 'zod';
import { FatalError, fieldIssues } from '#core/errors.ts';

/**
 * The environment every function reads at cold start. CDK sets it on each function; the local
 * stack sets it on its own process before loading the handler modules. Names are the contract.
 */
export const ConfigSchema = z.object({
  GLUON_TASKS_TABLE: z.string().min(1),
  GLUON_JOBS_TABLE: z.string().min(1),
  GLUON_RANGES_TABLE: z.string().min(1),
  GLUON_ATTEMPTS_TABLE: z.string().min(1),
  GLUON_PILOTS_TABLE: z.string().min(1),
  GLUON_LEASES_TABLE: z.string().min(1),
  GLUON_SITES_TABLE: z.string().min(1),
  GLUON_POLICIES_TABLE: z.string().min(1),
  GLUON_ACCOUNTING_TABLE: z.string().min(1),
  GLUON_BUCKET: z.string().min(1),
  /** Site queues are named `${prefix}site-${siteId}` (and `-dlq`). */
  GLUON_QUEUE_PREFIX: z.string().min(1),
  GLUON_STATE_MACHINE_ARN: z.string().min(1),
  /** The meta-task workflow; functions that start or wake meta-tasks need it. */
  GLUON_META_TASK_STATE_MACHINE_ARN: z.string().min(1).optional(),
  /** A pilot lease not renewed for this long expires: the pilot is lost, its jobs are queued again. */
  GLUON_LEASE_SEC: z.coerce.number().int().min(5).default(120),
  /** How often pilots renew their lease (well under the lease). */
  GLUON_HEARTBEAT_SEC: z.coerce.number().int().min(1).default(60),
  /** Event ranges whose messages are sent per enqueue step (a 10M-range task: 200 steps). */
  GLUON_RANGE_PAGE_SIZE: z.coerce.number().int().min(1).max(200_000).default(50_000),
  /** Visibility timeout of range queues: a range's lease; consumers extend it while a range runs. */
  GLUON_RANGE_LEASE_SEC: z.coerce.number().int().min(5).max(43_200).default(600),
  /** How often an open-ended task looks for new files of its open dataset. */
  GLUON_INPUT_POLL_SEC: z.coerce.number().int().min(1).max(3600).default(60),
  /** Sweeps of the reaper per scheduled run (every minute), spread evenly: the lost-pilot detection period. */
  GLUON_REAP_SWEEPS: z.coerce.number().int().min(1).max(6).default(2),
  /** Dispatch rounds per scheduled run (every minute), spread evenly: how soon a freed place in a site queue is refilled. */
  GLUON_DISPATCH_ROUNDS: z.coerce.number().int().min(1).max(12).default(6),
  /** How long a function keeps the current retry rules in memory: a change reaches every function within it. */
  GLUON_RETRY_POLICY_CACHE_SEC: z.coerce.number().int().min(0).max(3600).default(15),
  /** Site health: infrastructure failures of a site's recent outcomes above which it goes to test (sites may say otherwise). */
  GLUON_SITE_MAX_INFRA_FAILURE_FRACTION: z.coerce.number().min(0).max(1).default(0.5),
  /** Site health: recent outcomes a site needs before its failure fraction is judged. */
  GLUON_SITE_MIN_ATTEMPTS: z.coerce.number().int().min(1).default(5),
  /** Role pilots get short-lived, site-scoped credentials of (STS AssumeRole); unset: pilots bring their own. */
  GLUON_PILOT_ROLE_ARN: z.string().startsWith('arn:').optional(),
  /** Storage endpoints' `bucket/prefix`, comma-separated, that vended pilot sessions may read (stage-in of catalog files). */
  GLUON_PILOT_DATA_LOCATIONS: z
    .string()
    .default('')
    .transform((text) =>
      text
        .split(',')
        .map((l) => l.trim())
        .filter((l) => l !== ''),
    ),
  /** The stage's name (tag gluon:stage on what the provisioner starts); set on provision-pilots. */
  GLUON_STAGE: z.string().min(1).optional(),
  /** The launch template of each architecture, JSON `{"x86_64":{"id":"lt-…","version":"$Latest"}}` (provision-pilots). */
  GLUON_LAUNCH_TEMPLATES: z.string().min(1).optional(),
  /** AWS Batch job queues (names or ARNs), comma-separated, that cloud sites of the stage may use (provision-pilots). */
  GLUON_BATCH_JOB_QUEUES: z
    .string()
    .default('')
    .transform((text) =>
      text
        .split(',')
        .map((q) => q.trim())
        .filter((q) => q !== ''),
    ),
  /** Users' webhooks and their deliveries. */
  GLUON_WEBHOOKS_TABLE: z.string().min(1),
  /** The bus task events go to (set on the function that publishes them only). */
  GLUON_EVENT_BUS_NAME: z.string().min(1).optional(),
  /** Webhook URLs may be plain http to loopback (the local stack's receivers); else https only. */
  GLUON_WEBHOOK_ALLOW_HTTP_LOOPBACK: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
  /** Webhook deliveries: the delay after the first failed attempt (doubling after each), the longest delay, attempts in all. */
  GLUON_WEBHOOK_RETRY_BASE_SEC: z.coerce.number().int().min(1).max(3600).default(60),
  GLUON_WEBHOOK_RETRY_MAX_SEC: z.coerce.number().int().min(1).max(86_400).default(3600),
  GLUON_WEBHOOK_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(8),
  /** One webhook POST's timeout. */
  GLUON_WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(30_000).default(10_000),
  /** The functions' metric lines are also appended here, and `GET /metrics` reads them (the local stack). */
  GLUON_METRICS_FILE: z.string().min(1).optional(),
  /** The data catalog (files, datasets, replicas, storage endpoints, scopes). */
  GLUON_CATALOG_TABLE: z.string().min(1),
  /** The transfer service's queue (set on the functions that send or take transfer messages). */
  GLUON_TRANSFER_QUEUE_URL: z.string().min(1).optional(),
  /** Transfers: the delay after the first failed attempt (doubling after each, at most 900 s: SQS's longest delay), attempts in all. */
  GLUON_TRANSFER_RETRY_BASE_SEC: z.coerce.number().int().min(1).max(900).default(30),
  GLUON_TRANSFER_RETRY_MAX_SEC: z.coerce.number().int().min(1).max(900).default(900),
  GLUON_TRANSFER_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(5),
  /** Transfers: files above this are copied in parts (UploadPartCopy), of this size each (S3's minimum: 5 MiB). */
  GLUON_TRANSFER_MULTIPART_THRESHOLD_BYTES: z.coerce
    .number()
    .int()
    .min(1)
    .max(5 * 1024 ** 3)
    .default(64 * 1024 ** 2),
  GLUON_TRANSFER_PART_BYTES: z.coerce
    .number()
    .int()
    .min(5 * 1024 ** 2)
    .max(5 * 1024 ** 3)
    .default(64 * 1024 ** 2),
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
