/**
 * Everything that differs between deployments, in one typed and validated place. Pick a stage with
 * `-c stage=prod` (default `dev`). Operators edit the values below before the first deploy: the
 * issuer and audience of their identity provider, the alarm e-mail, the sites to watch and the
 * account pilots run in.
 */
import { z } from 'zod';
import { SubnetIdSchema } from '#core/provisioning/cloud-site.ts';
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

const SecurityGroupIdSchema = z
  .string()
  .regex(/^sg-(?:[0-9a-f]{8}|[0-9a-f]{17})$/, 'a security group id (sg- and 8 or 17 hex digits)');

/** An AWS Batch job queue by name or ARN (the provisioner may submit pilots to it). */
const JobQueueSchema = z
  .string()
  .regex(
    /^(?:[A-Za-z0-9][A-Za-z0-9_-]{0,127}|arn:aws[a-z-]*:batch:[a-z0-9-]+:\d{12}:job-queue\/[A-Za-z0-9][A-Za-z0-9_-]{0,127})$/,
    'a job queue name (letters, digits, - and _, at most 128) or job queue ARN',
  );

/**
 * Cloud sites (core/provisioning/cloud-site.ts): what the stack gives the provisioner to start
 * pilots with on EC2 (launch templates, instance role) and on AWS Batch. Sites themselves are
 * defined at run time; this only says where instances may boot and which job queues are allowed.
 */
export const CloudSettingsSchema = z
  .strictObject({
    /**
     * An SSM SecureString parameter (name, `/…`) holding the token pilots authenticate to the API
     * with (scope `gluon.pilot`). Instances read it at boot with the instance role; the stack only
     * names it, the operator creates it (README, Deploy).
     */
    pilotTokenParameter: z
      .string()
      .regex(
        /^\/[A-Za-z0-9_./-]{1,1010}$/,
        'an SSM parameter name starting with / (letters, digits, _ . - /)',
      ),
    /** Where the launch templates put the network interface's security groups; left out: the VPC's default. */
    securityGroupIds: z.array(SecurityGroupIdSchema).max(5).optional(),
    /**
     * Subnets cloud sites may boot instances in: the provisioner's RunInstances is limited to them.
     * Left out: any subnet of the account and region (a site names its own subnets).
     */
    vpcSubnets: z.array(SubnetIdSchema).max(16).optional(),
    /** The root volume of cloud instances (gp3, encrypted): the pilots' work directories. */
    rootVolumeGiB: z.number().int().min(8).max(16_384).default(100),
    /** Job queues (names or ARNs) the provisioner may submit pilot jobs to, besides the stack's own. */
    batchJobQueues: z.array(JobQueueSchema).max(20).default([]),
    /** Job definitions (names; any revision) pilot jobs in those queues may use, besides the stack's own. */
    batchJobDefinitions: z
      .array(
        z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/, 'a job definition name (no revision, no ARN)'),
      )
      .max(20)
      .default([]),
    /** An AWS Batch compute environment, job queue and job definition of the stack's own, for `batch` sites. */
    batch: z
      .strictObject({
        computeEnvironment: z
          .strictObject({
            type: z.enum(['SPOT', 'EC2', 'FARGATE', 'FARGATE_SPOT']),
            maxvCpus: z.number().int().min(1).max(100_000),
            subnets: z.array(SubnetIdSchema).min(1, 'at least one subnet').max(16),
            securityGroupIds: z.array(SecurityGroupIdSchema).min(1, 'at least one security group').max(5),
            /** EC2 and SPOT only: the instance types (left out: `optimal`). */
            instanceTypes: z
              .array(z.string().regex(/^[a-z0-9-]+(\.[a-z0-9]+)?$/, 'an instance type or family'))
              .min(1)
              .max(20)
              .optional(),
          })
          .refine((ce) => !(ce.type.startsWith('FARGATE') && ce.instanceTypes !== undefined), {
            message: 'Fargate compute environments take no instance types',
            path: ['instanceTypes'],
          }),
        /** The pilot container's image: it needs bash and dnf (Amazon Linux 2023), or Node 22 and the AWS CLI. */
        image: z.string().min(1).max(255).default('public.ecr.aws/amazonlinux/amazonlinux:2023'),
        /** vCPUs and memory of one pilot job (a site's slot should fit in them). */
        jobVcpus: z.number().min(0.25).max(192).default(1),
        jobMemoryMiB: z.number().int().min(512).max(1_048_576).default(2048),
        /** Fargate only: a public IP for the task (subnets without NAT need it to reach the API and S3). */
        assignPublicIp: z.boolean().default(false),
      })
      .optional(),
  })
  .refine((c) => c.batchJobQueues.length === 0 || c.batchJobDefinitions.length > 0, {
    message: 'name the job definitions the pilot jobs of cloud.batchJobQueues use',
    path: ['batchJobDefinitions'],
  });
export type CloudSettings = z.infer<typeof CloudSettingsSchema>;

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
   * exactly these buckets (and no others) — add a bucket here before defining its endpoint. The
   * transfer service copies replicas from and to them too.
   */
  catalog: z
    .strictObject({
      dataBuckets: z
        .array(z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'an S3 bucket name'))
        .max(50)
        .default([]),
    })
    .default({ dataBuckets: [] }),
  /** Cloud sites (EC2 Fleet, AWS Batch); left out, the provisioner has no launch template and no job queue. */
  cloud: CloudSettingsSchema.optional(),
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
    // Harmless until an operator defines a cloud site: launch templates and an instance role, no
    // instance. The token parameter is created by the operator (README, Deploy).
    cloud: { pilotTokenParameter: '/gluon/dev/pilot-token' },
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
