/** The pilot routes' bodies and answers: register, claim (with the previous report), report, credentials. */
import { z } from 'zod';
import { OutputFileSchema, UsageSchema } from '../jobs/job.ts';
import { ResourceClassSchema } from '../jobs/resource-class.ts';
import {
  CloudNodeSchema,
  HealthCheckSchema,
  LIVE_PILOT_STATES,
  PILOT_STATES,
  PilotRegistrationSchema,
  PilotResourcesSchema,
} from '../pilots/pilot.ts';
import { isPilotErrorCode } from '../pilots/pilot-error-codes.ts';
import { PayloadSchema, ResourcesSchema } from '../tasks/task-spec.ts';
import { PilotIdSchema, pageOf, TaskIdSchema, TimeSchema } from './common.ts';
import { ConsumerSchema } from './event-ranges.ts';

/**
 * Short-lived AWS credentials vended to a pilot at registration (and renewed), limited to its
 * site's queue, its own lease and the bucket prefixes pilots use. Absent where pilots use their
 * own role (EC2).
 */
export const PilotCredentialsSchema = z.object({
  accessKeyId: z.string(),
  secretAccessKey: z.string(),
  sessionToken: z.string().optional(),
  /** ISO time; renew well before. */
  expiration: TimeSchema,
});
export type PilotCredentials = z.infer<typeof PilotCredentialsSchema>;

/**
 * A pilot's registration. `registrationKey` makes it idempotent: a UUID the pilot makes once per
 * process and sends with every try, so a try whose answer was lost and the retry that follows it
 * register one pilot, answered the same (its id, its lease, fresh credentials). Without it, every
 * call registers a new pilot.
 */
export const RegisterPilotRequestSchema = PilotRegistrationSchema.extend({
  registrationKey: z.uuid().optional(),
});
export type RegisterPilotRequest = z.infer<typeof RegisterPilotRequestSchema>;

export const RegisterPilotResponseSchema = z.object({
  pilotId: PilotIdSchema,
  siteId: z.string(),
  /** False for a pilot whose node checks failed: it must take no work and exit. */
  accepted: z.boolean(),
  reason: z.string().optional(),
  /** The site's single-core queue. */
  queueUrl: z.string(),
  /**
   * The site's queues of the resource classes this pilot can run (by the resources it registered),
   * the largest class first: it polls these, and no other.
   */
  queues: z.array(z.object({ resourceClass: ResourceClassSchema, queueUrl: z.string() })),
  bucket: z.string(),
  /** The table of pilot leases: the pilot renews its own lease there (one write per heartbeat). */
  leaseTable: z.string(),
  heartbeatSec: z.number().int().positive(),
  /** A lease not renewed for this long expires, and the pilot is lost. */
  leaseSec: z.number().int().positive(),
  serverTime: TimeSchema,
  credentials: PilotCredentialsSchema.optional(),
});
export type RegisterPilotResponse = z.infer<typeof RegisterPilotResponseSchema>;

export const JobRefSchema = z.strictObject({
  taskId: TaskIdSchema,
  jobIndex: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  attempt: z.number().int().min(1),
});
export type JobRefInput = z.infer<typeof JobRefSchema>;

/** The attempts a pilot still holds besides the one it reports: its lease lists exactly these (and the new one). */
const HoldsSchema = z.array(JobRefSchema).max(64).default([]);

/** The end of an attempt, as the pilot reports it. */
export const ReportSchema = JobRefSchema.extend({
  exitCode: z.number().int().min(-255).max(255).optional(),
  signal: z.string().max(16).optional(),
  pilotErrorCode: z.number().int().refine(isPilotErrorCode, 'a known pilot error code (see README)'),
  errorMessage: z.string().max(4000).optional(),
  usage: UsageSchema,
  outputs: z.array(OutputFileSchema).max(64).default([]),
  /** The attempt's log object, with its size and adler32. */
  log: OutputFileSchema.optional(),
  host: z.string().max(255).optional(),
});
export type Report = z.infer<typeof ReportSchema>;
export type ReportInput = z.input<typeof ReportSchema>;

export const CompleteRequestSchema = ReportSchema.extend({ holds: HoldsSchema });
export type CompleteRequest = z.input<typeof CompleteRequestSchema>;

export const REPORT_OUTCOMES = ['recorded', 'stale'] as const;

export const CompleteResponseSchema = z.object({
  /** `recorded`, also for a replay of a report already recorded; `stale`: the pilot no longer holds the attempt. */
  outcome: z.enum(REPORT_OUTCOMES),
  jobState: z.enum(['queued', 'finished', 'failed', 'cancelled']).optional(),
  attempt: z.number().int().optional(),
  reason: z.string().optional(),
});
export type CompleteResponse = z.infer<typeof CompleteResponseSchema>;

/**
 * A claim of the job a queue message names. It may carry the report of the attempt the pilot just
 * ended, so a busy pilot makes one call per job.
 */
export const ClaimRequestSchema = JobRefSchema.extend({
  /** When the message was sent (from the message), for the dispatch latency. */
  sentAt: z.number().int().nonnegative().optional(),
  resources: PilotResourcesSchema,
  holds: HoldsSchema,
  report: ReportSchema.optional(),
});
export type ClaimRequest = z.input<typeof ClaimRequestSchema>;

/** Everything a pilot needs to run one attempt. */
export const ClaimedJobSchema = z.object({
  taskId: TaskIdSchema,
  jobId: z.string(),
  jobIndex: z.number().int().nonnegative(),
  attempt: z.number().int().min(1),
  firstEvent: z.number().int().optional(),
  nEvents: z.number().int().optional(),
  /**
   * The input files with what the spec knows of them, so the pilot can verify what it stages in:
   * an `s3://bucket/key` name or an `inputs/…` key of the task bucket is downloaded and checked
   * against `adler32`/`bytes` when given.
   */
  inputs: z
    .array(
      z.object({
        name: z.string(),
        adler32: z.string().optional(),
        bytes: z.number().int().optional(),
        events: z.number().int().optional(),
        /** The file's name in the work directory, when not the base name of its key (merge inputs). */
        localName: z.string().optional(),
        /**
         * A catalog file's replicas the pilot may read, in the order to try them (close to its
         * site first): it stages in from the first, and on a failure (missing, checksum) the next.
         */
        replicas: z.array(z.object({ endpointId: z.string(), url: z.string() })).optional(),
      }),
    )
    .optional(),
  payload: PayloadSchema,
  resources: ResourcesSchema,
  outputs: z.array(z.string()),
  /** S3 key prefix for this attempt's log and outputs (core/storage/object-keys.ts). */
  outputPrefix: z.string(),
  /** Where the attempt's one log object goes. */
  logKey: z.string(),
  /** An event-service consumer: the job takes ranges from its task's range queue (core/api/event-ranges.ts). */
  consumer: ConsumerSchema.optional(),
});
export type ClaimedJob = z.infer<typeof ClaimedJobSchema>;

/**
 * `claimed`: run it. `stale`: the message is a duplicate or out of date. `cancelled`: its task
 * was cancelled. `unfit`: it does not fit this pilot now (leave the message to others).
 * `paused`: its owner paused the task (leave the message in the queue for later).
 */
export const CLAIM_OUTCOMES = ['claimed', 'stale', 'cancelled', 'unfit', 'paused'] as const;
export type ClaimOutcome = (typeof CLAIM_OUTCOMES)[number];

export const ClaimResponseSchema = z.object({
  outcome: z.enum(CLAIM_OUTCOMES),
  job: ClaimedJobSchema.optional(),
  reason: z.string().optional(),
  /** The outcome of the report the claim carried. */
  report: CompleteResponseSchema.optional(),
});
export type ClaimResponse = z.infer<typeof ClaimResponseSchema>;

/** What a cloud pilot costs per hour (its part of its instance's price), and where the price came from. */
export const PilotCostSchema = z.object({
  hourlyUsd: z.number(),
  instanceHourlyUsd: z.number(),
  /** `table`: the dated price table; `spot-history`: EC2's Spot price history; `site`: the site's definition. */
  source: z.enum(['table', 'spot-history', 'site']),
  /** The price table's date, or when the price was read. */
  asOf: z.string(),
});

/** A pilot as operators see it: its registration and, while it lives, its lease. */
export const PilotViewSchema = z.object({
  pilotId: PilotIdSchema,
  siteId: z.string(),
  host: z.string(),
  pid: z.number().int(),
  version: z.string(),
  batchId: z.string().optional(),
  resources: PilotResourcesSchema,
  health: z.array(HealthCheckSchema).optional(),
  /** Where a cloud pilot runs: its instance (type, market, zone) or its AWS Batch job. */
  cloud: CloudNodeSchema.optional(),
  /** A cloud pilot's price, fixed at registration (pilots of sites with provisioning). */
  cost: PilotCostSchema.optional(),
  state: z.enum(PILOT_STATES),
  registeredAt: TimeSchema,
  endedAt: TimeSchema.optional(),
  jobsRun: z.number().int().optional(),
  /** While live: when its lease expires, its last heartbeat and the attempts it holds. */
  lease: z
    .object({
      state: z.enum([...LIVE_PILOT_STATES, 'exited', 'lost']),
      expiresAt: TimeSchema,
      beatAt: TimeSchema.optional(),
      jobs: z.array(z.string()),
    })
    .optional(),
});
export type PilotView = z.infer<typeof PilotViewSchema>;

export const PilotPageSchema = pageOf(PilotViewSchema);
