/**
 * The HTTP API contract: request and response shapes shared by the handlers, the pilot and the
 * CLI. Requests are zod schemas (validated at the edge); responses are types.
 */
import { z } from 'zod';
import type { Attempt, JobState, OutputFile, Usage } from '../jobs/job.ts';
import { OutputFileSchema, UsageSchema } from '../jobs/job.ts';
import { PILOT_STATES, type Pilot, PilotResourcesSchema } from '../pilots/pilot.ts';
import type { PilotErrorCode } from '../pilots/pilot-error-codes.ts';
import { isPilotErrorCode } from '../pilots/pilot-error-codes.ts';
import type { JobCounts, TaskState, TaskStateChange } from '../tasks/task.ts';
import type { Payload, Resources, TaskSpec } from '../tasks/task-spec.ts';

/** Scopes as the HTTP API JWT authorizer checks them (WLCG token profile names for users). */
export const SCOPES = {
  create: 'compute.create',
  read: 'compute.read',
  cancel: 'compute.cancel',
  pilot: 'gluon.pilot',
  /** Operators: define sites (the information system). */
  admin: 'gluon.admin',
} as const;
export type Scope = (typeof SCOPES)[keyof typeof SCOPES];

export const TaskIdSchema = z.string().regex(/^t-[0-9a-z]{6,40}$/, 'a task id such as t-01jd3k…');
export const PilotIdSchema = z.string().regex(/^p-[0-9a-z]{6,40}$/, 'a pilot id such as p-01jd3k…');

export const TaskPathSchema = z.strictObject({ taskId: TaskIdSchema });
export const PilotPathSchema = z.strictObject({ pilotId: PilotIdSchema });

export const PageQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  nextToken: z.string().max(2048).optional(),
});
export const JobsQuerySchema = PageQuerySchema.extend({
  state: z.enum(['defined', 'queued', 'starting', 'running', 'finished', 'failed', 'cancelled']).optional(),
});

// ---- user routes -------------------------------------------------------------------------------

export interface SubmitTaskResponse {
  taskId: string;
  state: TaskState;
  jobCount: number;
}

export interface TaskView {
  taskId: string;
  name: string;
  owner: string;
  state: TaskState;
  jobCount: number;
  jobsEnqueued: number;
  counts: JobCounts;
  siteIds: string[];
  cancelRequested: boolean;
  reason?: string;
  createdAt: string;
  updatedAt: string;
  endedAt?: string;
  spec: TaskSpec;
  history: TaskStateChange[];
}

export type TaskSummary = Omit<TaskView, 'spec' | 'history'>;

export interface JobView {
  jobId: string;
  taskId: string;
  jobIndex: number;
  state: JobState;
  attempt: number;
  siteId: string;
  /** Memory or walltime raised for retries after a memory or walltime kill. */
  resources?: { memoryMB?: number; walltimeSec?: number };
  pilotId?: string;
  host?: string;
  firstEvent?: number;
  nEvents?: number;
  inputFiles?: string[];
  exitCode?: number;
  pilotErrorCode?: PilotErrorCode;
  errorMessage?: string;
  usage?: Usage;
  outputs?: OutputFile[];
  logKey?: string;
  createdAt: string;
  updatedAt: string;
  startedAt?: string;
  endedAt?: string;
  attempts: Attempt[];
}

export interface Page<T> {
  items: T[];
  nextToken?: string;
}

export const SandboxRequestSchema = z.strictObject({
  files: z
    .array(
      z.strictObject({
        name: z
          .string()
          .min(1)
          .max(200)
          .regex(/^[A-Za-z0-9._-]+$/, 'a plain file name'),
        sha256: z.string().regex(/^[0-9a-f]{64}$/, '64 hex digits'),
        bytes: z
          .number()
          .int()
          .nonnegative()
          .max(50 * 1024 * 1024, 'at most 50 MiB per file'),
      }),
    )
    .min(1)
    .max(32),
});
export type SandboxRequest = z.infer<typeof SandboxRequestSchema>;
export interface SandboxResponse {
  files: Array<{ name: string; key: string; sha256: string; bytes: number; uploadUrl: string }>;
}

// ---- pilot routes ------------------------------------------------------------------------------

/**
 * Short-lived AWS credentials vended to a pilot at registration (and renewed), limited to its
 * site's queue and the S3 prefixes pilots use. Absent where pilots use their own role (EC2).
 */
export interface PilotCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** ISO time; renew well before. */
  expiration: string;
}

export interface RegisterPilotResponse {
  pilotId: string;
  siteId: string;
  /** False for a pilot whose node checks failed: it must take no work and exit. */
  accepted: boolean;
  reason?: string;
  queueUrl: string;
  bucket: string;
  heartbeatSec: number;
  leaseSec: number;
  serverTime: string;
  credentials?: PilotCredentials;
}

/** What a site's pilot factory needs to decide how many pilots to submit. */
export interface SiteDemand {
  siteId: string;
  status: 'online' | 'offline' | 'test';
  /** Job messages waiting in the site's queue (approximate, from SQS). */
  queuedJobs: number;
  /** Live pilots of the site by state (as the books know them). */
  pilots: { starting: number; idle: number; busy: number; draining: number };
  maxPilots: number;
  /** Pilots the site could use now: queued work not covered by idle or starting pilots, within maxPilots. */
  pilotsWanted: number;
  slot: { cores: number; memoryMB: number; walltimeSec: number; diskMB: number };
}

export interface SiteView {
  siteId: string;
  kind: 'local' | 'grid' | 'hpc' | 'cloud';
  status: 'online' | 'offline' | 'test';
  slot: { cores: number; memoryMB: number; walltimeSec: number; diskMB: number };
  maxPilots: number;
  tags: string[];
  queueUrl?: string;
}

export const SitePathSchema = z.strictObject({
  siteId: z.string().regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'a site id'),
});

export const JobRefSchema = z.strictObject({
  taskId: TaskIdSchema,
  jobIndex: z.number().int().nonnegative(),
  attempt: z.number().int().min(1),
});
export type JobRef = z.infer<typeof JobRefSchema>;

export const ClaimRequestSchema = JobRefSchema.extend({ resources: PilotResourcesSchema.optional() });
export type ClaimRequest = z.infer<typeof ClaimRequestSchema>;

/** Everything a pilot needs to run one attempt. */
export interface ClaimedJob {
  taskId: string;
  jobId: string;
  jobIndex: number;
  attempt: number;
  firstEvent?: number;
  nEvents?: number;
  inputFiles?: string[];
  /**
   * What is known of the input files (from the task spec's `inputs.files` objects), so the pilot
   * can verify what it stages in: an `s3://bucket/key` name or an `inputs/…` key of the task
   * bucket is downloaded into the work directory and checked against `adler32`/`bytes` when given.
   */
  inputs?: Array<{ name: string; adler32?: string; bytes?: number }>;
  payload: Payload;
  resources: Resources;
  outputs: string[];
  /** S3 key prefix for this attempt's log and outputs: `tasks/<taskId>/jobs/<jobIndex>/attempt-<n>/`. */
  outputPrefix: string;
  leaseExpiresAt: number;
}

export type ClaimResponse =
  | { outcome: 'claimed'; job: ClaimedJob }
  | { outcome: 'stale' | 'cancelled' | 'unfit'; reason: string };

export const HeartbeatRequestSchema = z.strictObject({
  state: z.enum(PILOT_STATES),
  jobs: z
    .array(JobRefSchema.extend({ phase: z.enum(['starting', 'running']) }))
    .max(64)
    .default([]),
});
export type HeartbeatRequest = z.infer<typeof HeartbeatRequestSchema>;

export interface HeartbeatResponse {
  jobs: Array<JobRef & { action: 'continue' | 'kill'; reason?: string }>;
  leaseExpiresAt: number;
  serverTime: string;
}

export const CompleteRequestSchema = JobRefSchema.extend({
  exitCode: z.number().int().min(-255).max(255).optional(),
  signal: z.string().max(16).optional(),
  pilotErrorCode: z.number().int().refine(isPilotErrorCode, 'a known pilot error code (see README)'),
  errorMessage: z.string().max(4000).optional(),
  usage: UsageSchema,
  outputs: z.array(OutputFileSchema).max(64).default([]),
  logKey: z.string().min(1).max(1024).optional(),
  /** The attempt's log tarball (payload.log and metadata), with its size and adler32. */
  logArchive: OutputFileSchema.optional(),
  host: z.string().max(255).optional(),
});
export type CompleteRequest = z.input<typeof CompleteRequestSchema>;

export type CompleteResponse =
  | { outcome: 'recorded'; jobState: JobState; attempt: number }
  | { outcome: 'stale'; reason: string };

export interface PilotsResponse {
  pilots: Pilot[];
}

/** Error body of every 4xx/5xx. */
export interface ErrorBody {
  error: { code: string; message: string; issues?: Array<{ field: string; message: string }> };
}
