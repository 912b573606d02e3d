/**
 * Everything that differs between deployments, in one typed and validated place. Pick a stage with
 * `-c stage=prod` (default `dev`). Operators edit the values below before the first deploy: the
 * issuer and audience of their identity provider, the alarm e-mail, the sites to watch and the
 * account pilots run in.
 */
import { z } from 'zod';
import { SiteIdSchema } from '#core/sites/site.ts';
import { ConfigSchema } from '#lambdas/runtime/config.ts';

/** The retention periods CloudWatch Logs accepts, in days. */
const LOG_RETENTION_DAYS: ReadonlySet<number> = new Set([
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
]);

/** Function settings a stage may tune; unset ones take the defaults of lambdas/runtime/config.ts. */
const FunctionSettingsSchema = ConfigSchema.pick({
  GLUON_LEASE_SEC: true,
  GLUON_HEARTBEAT_SEC: true,
  GLUON_REAP_SWEEPS: true,
  GLUON_DISPATCH_ROUNDS: true,
  GLUON_SITE_MAX_INFRA_FAILURE_FRACTION: true,
  GLUON_SITE_MIN_ATTEMPTS: true,
}).partial();

export const StageSchema = z.strictObject({
  /** Lower-case; the stack is called `gluon-<name>` and site queues `gluon-<name>-site-<siteId>`. */
  name: z.string().regex(/^[a-z][a-z0-9-]{0,19}$/, 'lower-case letters, digits and dashes, at most 20'),
  /** The HTTP API's JWT authorizer: tokens must come from `issuer` and name one of `audience`. */
  auth: z.strictObject({
    issuer: z.url({ protocol: /^https$/, error: 'an https URL (the `iss` claim of the tokens)' }),
    audience: z.array(z.string().min(1)).min(1),
  }),
  /** Receives every alarm (the subscription must be confirmed from the e-mail once). */
  alarmEmail: z.email(),
  /** Sites whose queues get alarms (DLQ depth, age of the oldest job message). */
  sites: z
    .array(SiteIdSchema)
    .max(100)
    .refine((s) => new Set(s).size === s.length, 'site ids must be unique'),
  /** `destroy` removes tables, bucket and logs with the stack; `retain` keeps them (and protects tables). */
  removal: z.enum(['destroy', 'retain']),
  /** Retention of every log group (functions, workflow, API access logs). */
  logRetentionDays: z.number().refine((d) => LOG_RETENTION_DAYS.has(d), 'a CloudWatch Logs retention period'),
  /** S3 server access logs of the data bucket are kept this long. */
  accessLogExpirationDays: z.number().int().min(1).max(3650),
  /** Default route throttling of the HTTP API. */
  throttle: z.strictObject({
    rateLimit: z.number().positive().max(10_000),
    burstLimit: z.number().int().positive().max(5_000),
  }),
  /** Who may assume the pilot role: an account (default: the deploying one) that must pass `externalId`. */
  pilots: z.strictObject({
    accountId: z
      .string()
      .regex(/^\d{12}$/, 'a 12-digit AWS account id')
      .optional(),
    externalId: z.string().regex(/^[\w+=,.@:/-]{2,1224}$/, 'an STS external id (2-1224 characters)'),
  }),
  alarms: z.strictObject({
    /** A job message older than this in a site queue means no pilot takes work there. */
    oldestJobMessageAgeSec: z.number().int().min(60),
    /** Errors of one function in 5 minutes that raise its alarm. */
    functionErrorsPer5Min: z.number().int().min(1),
    /** Jobs whose lease the reaper had to expire in 5 minutes (lost pilots) that raise the alarm. */
    jobsRequeuedPer5Min: z.number().int().min(1),
    /** HTTP 5xx answers of the API in 5 minutes that raise the alarm. */
    apiServerErrorsPer5Min: z.number().int().min(1),
    /** Pilots the reaper found lost in 5 minutes (their lease expired) that raise the alarm. */
    pilotsLostPer5Min: z.number().int().min(1).default(20),
    /** DynamoDB requests refused for throughput in 5 minutes that raise the alarm. */
    dynamoDbThrottlesPer5Min: z.number().int().min(1).default(10),
  }),
  functionSettings: FunctionSettingsSchema,
  /**
   * The data catalog: buckets of storage endpoints (besides the results bucket) whose objects users
   * register from a listing. Endpoints are runtime data, so the catalog function may list and read
   * exactly these buckets (and no others) — add a bucket here before defining its endpoint.
   */
  catalog: z
    .strictObject({
      dataBuckets: z
        .array(z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'an S3 bucket name'))
        .max(50)
        .default([]),
    })
    .default({ dataBuckets: [] }),
});
export type Stage = z.infer<typeof StageSchema>;

export const STAGES = {
  dev: {
    name: 'dev',
    auth: { issuer: 'https://login.example.org/realms/gluon-dev', audience: ['gluon'] },
    alarmEmail: 'gluon-operators@example.org',
    sites: ['aws-dev'],
    removal: 'destroy',
    logRetentionDays: 14,
    accessLogExpirationDays: 30,
    throttle: { rateLimit: 50, burstLimit: 100 },
    pilots: { externalId: 'gluon-dev-pilots' },
    alarms: {
      oldestJobMessageAgeSec: 3600,
      functionErrorsPer5Min: 1,
      jobsRequeuedPer5Min: 50,
      apiServerErrorsPer5Min: 5,
    },
    functionSettings: {},
  },
  prod: {
    name: 'prod',
    auth: { issuer: 'https://login.example.org/realms/gluon', audience: ['gluon'] },
    alarmEmail: 'gluon-operators@example.org',
    sites: ['aws-eu-west-1'],
    removal: 'retain',
    logRetentionDays: 90,
    accessLogExpirationDays: 365,
    throttle: { rateLimit: 500, burstLimit: 1000 },
    pilots: { externalId: 'gluon-prod-pilots' },
    alarms: {
      oldestJobMessageAgeSec: 6 * 3600,
      functionErrorsPer5Min: 5,
      jobsRequeuedPer5Min: 500,
      apiServerErrorsPer5Min: 20,
    },
    functionSettings: {},
  },
} satisfies Record<string, z.input<typeof StageSchema>>;

export type StageName = keyof typeof STAGES;

function isStageName(name: string): name is StageName {
  return Object.hasOwn(STAGES, name);
}

/** The validated settings of a stage; throws naming the stage and every bad field. */
export function stageConfig(name: string): Stage {
  if (!isStageName(name)) {
    throw new Error(`unknown stage "${name}": use -c stage=${Object.keys(STAGES).join('|')}`);
  }
  return parseStage(STAGES[name]);
}

/** Validates stage settings (also used by tests to check that bad settings are refused). */
export function parseStage(input: unknown): Stage {
  const result = StageSchema.safeParse(input);
  if (!result.success) {
    const fields = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new Error(`invalid stage settings: ${fields.join('; ')}`);
  }
  return result.data;
}
