/** The task routes' bodies and answers: submit, read, list, cancel, explain, sandboxes. */
import { z } from 'zod';
import { ATTEMPT_END_STATES, JOB_STATES, OutputFileSchema, UsageSchema } from '../jobs/job.ts';
import { isPilotErrorCode } from '../pilots/pilot-error-codes.ts';
import { BrokerageDecisionSchema, FILTER_NAMES } from '../policies/brokerage-decision.ts';
import { SITE_STATUSES, SiteIdSchema } from '../sites/site.ts';
import { JOB_SELECTION, RESUBMIT_STATES } from '../tasks/job-selection.ts';
import { TASK_STATES } from '../tasks/task.ts';
import { ResourcesSchema, TaskSpecSchema } from '../tasks/task-spec.ts';
import { PageQuerySchema, pageOf, TaskIdSchema, TimeSchema } from './common.ts';
import { RangeCountsSchema } from './event-ranges.ts';

export const JobCountsSchema = z.object(
  Object.fromEntries(JOB_STATES.map((s) => [s, z.number().int().nonnegative()])) as Record<
    (typeof JOB_STATES)[number],
    z.ZodNumber
  >,
);

export const SubmitTaskResponseSchema = z.object({
  taskId: TaskIdSchema,
  state: z.enum(TASK_STATES),
  jobCount: z.number().int().nonnegative(),
});
export type SubmitTaskResponse = z.infer<typeof SubmitTaskResponseSchema>;

/** The one header POST /tasks reads (header names arrive lower-cased, as API Gateway passes them). */
export const SubmitTaskHeadersSchema = z.object({
  'idempotency-key': z
    .string()
    .regex(/^[A-Za-z0-9._:-]{8,128}$/, '8 to 128 letters, digits, or . _ : -')
    .optional()
    .describe(
      'Makes the submit safe to repeat: the same caller and key within 24 h answer with the task ' +
        'the first request made (201, same taskId) and never make a second. The same key with ' +
        'another spec is refused with 409 CONFLICT. Send a new key (e.g. a UUID) per task.',
    ),
});

export const TaskStateChangeSchema = z.object({
  state: z.enum(TASK_STATES),
  at: TimeSchema,
  reason: z.string().optional(),
});

export const TaskSummarySchema = z.object({
  taskId: TaskIdSchema,
  name: z.string(),
  owner: z.string(),
  state: z.enum(TASK_STATES),
  jobCount: z.number().int().nonnegative(),
  jobsEnqueued: z.number().int().nonnegative(),
  counts: JobCountsSchema,
  /** Event-service tasks: ranges by state, and events done of all. */
  ranges: RangeCountsSchema.optional(),
  /** The task's outputs once it ended (an event-service task's merged outputs), with size and adler32. */
  outputs: z.array(OutputFileSchema).optional(),
  siteIds: z.array(z.string()),
  cancelRequested: z.boolean(),
  /** The owner paused dispatch: no job starts until resumed; running jobs go on. */
  paused: z.boolean().optional(),
  /** The task's priority (the owner's, else the spec's). */
  priority: z.number().int().optional(),
  /** Jobs its owner resubmitted so far (`gluon resubmit`), and whether a resubmit is under way. */
  jobsResubmitted: z.number().int().nonnegative().optional(),
  resubmitting: z.boolean().optional(),
  reason: z.string().optional(),
  createdAt: TimeSchema,
  updatedAt: TimeSchema,
  endedAt: TimeSchema.optional(),
});
export type TaskSummary = z.infer<typeof TaskSummarySchema>;

/** A scouted task's scouts: what they measured, and how the rest of the task was cut from it. */
export const ScoutingViewSchema = z.object({
  /** `scouting`: the scouts (the task's first jobs) run; `sized`: the rest was cut from what they measured; `not-sized`: the task ended first (its reason says why). */
  state: z.enum(['scouting', 'sized', 'not-sized']),
  scouts: z.number().int().min(1),
  /** What the task is cut in: events (generation) or input files (processing). */
  unit: z.enum(['event', 'file']),
  targetWalltimeSec: z.number().int(),
  measured: z
    .object({
      finished: z.number().int().nonnegative(),
      failed: z.number().int().nonnegative(),
      cancelled: z.number().int().nonnegative(),
      /** Wall seconds per event (or file), at the 75th percentile of the finished scouts. */
      wallSecPerUnit: z.number().nonnegative(),
      cpuSecPerUnit: z.number().nonnegative(),
      /** The largest RSS of a finished scout. */
      peakRssMB: z.number().int().nonnegative(),
    })
    .optional(),
  /** Events (files) per job after the scouts, those jobs, and the memory they ask for. */
  perJob: z.number().int().optional(),
  jobs: z.number().int().nonnegative().optional(),
  memoryMB: z.number().int().optional(),
  /** What the sizing gave up (scouts that failed, a margin cut to fit the sites' slots). */
  notes: z.array(z.string()).optional(),
  sizedAt: TimeSchema.optional(),
});
export type ScoutingView = z.infer<typeof ScoutingViewSchema>;

export const TaskViewSchema = TaskSummarySchema.extend({
  spec: TaskSpecSchema,
  history: z.array(TaskStateChangeSchema),
  /** A scouted task (split.targetWalltimeSec): its scouts and the sizing chosen from them. */
  scouting: ScoutingViewSchema.optional(),
});
export type TaskView = z.infer<typeof TaskViewSchema>;

export const TaskPageSchema = pageOf(TaskSummarySchema);

const PilotErrorCodeSchema = z
  .number()
  .int()
  .refine(isPilotErrorCode, 'a known pilot error code (see README)');

export const AttemptViewSchema = z.object({
  attempt: z.number().int().min(1),
  pilotId: z.string(),
  siteId: z.string(),
  host: z.string().optional(),
  state: z.enum(ATTEMPT_END_STATES),
  startedAt: TimeSchema,
  endedAt: TimeSchema,
  pilotErrorCode: PilotErrorCodeSchema,
  exitCode: z.number().int().optional(),
  signal: z.string().optional(),
  errorMessage: z.string().optional(),
  usage: UsageSchema.optional(),
  resources: z.object({ memoryMB: z.number().optional(), walltimeSec: z.number().optional() }).optional(),
  outputs: z.array(OutputFileSchema).optional(),
  log: OutputFileSchema.optional(),
});
export type AttemptView = z.infer<typeof AttemptViewSchema>;

export const JobViewSchema = z.object({
  jobId: z.string(),
  taskId: TaskIdSchema,
  jobIndex: z.number().int().nonnegative(),
  state: z.enum(JOB_STATES),
  attempt: z.number().int().min(1),
  /** Retries that used none of maxAttempts (infrastructure errors, as the retry rules say). */
  systemRetries: z.number().int().optional(),
  siteId: z.string().optional(),
  /** Memory or walltime raised for retries after a memory or walltime kill. */
  resources: z.object({ memoryMB: z.number().optional(), walltimeSec: z.number().optional() }).optional(),
  pilotId: z.string().optional(),
  host: z.string().optional(),
  firstEvent: z.number().int().optional(),
  nEvents: z.number().int().optional(),
  inputFiles: z.array(z.string()).optional(),
  exitCode: z.number().int().optional(),
  signal: z.string().optional(),
  pilotErrorCode: PilotErrorCodeSchema.optional(),
  errorMessage: z.string().optional(),
  usage: UsageSchema.optional(),
  outputs: z.array(OutputFileSchema).optional(),
  log: OutputFileSchema.optional(),
  queuedAt: TimeSchema.optional(),
  startedAt: TimeSchema.optional(),
  endedAt: TimeSchema.optional(),
  /** Every ended attempt, oldest first (only when one job is asked for). */
  attempts: z.array(AttemptViewSchema).optional(),
});
export type JobView = z.infer<typeof JobViewSchema>;

export const JobPageSchema = pageOf(JobViewSchema);

export const JobsQuerySchema = PageQuerySchema.extend({ state: z.enum(JOB_STATES).optional() });
export type JobsQuery = z.infer<typeof JobsQuerySchema>;

export const CancelTaskResponseSchema = z.object({
  taskId: TaskIdSchema,
  state: z.enum(TASK_STATES),
  cancelRequested: z.literal(true),
});
export type CancelTaskResponse = z.infer<typeof CancelTaskResponseSchema>;

export const KillJobResponseSchema = z.object({
  taskId: TaskIdSchema,
  jobIndex: z.number().int().nonnegative(),
  /** `cancelled`: it had not started; `running`: its pilot is told to kill it (it ends cancelled, 1401). */
  state: z.enum(['cancelled', 'running']),
  killRequested: z.literal(true),
});
export type KillJobResponse = z.infer<typeof KillJobResponseSchema>;

export const SteerTaskResponseSchema = z.object({
  taskId: TaskIdSchema,
  state: z.enum(TASK_STATES),
  paused: z.boolean(),
  priority: z.number().int(),
});
export type SteerTaskResponse = z.infer<typeof SteerTaskResponseSchema>;

export const SetPriorityRequestSchema = z.strictObject({
  priority: z.number().int().min(0).max(1000),
});

/**
 * The filters a site of `why` may be rejected by: brokerage's chain, and `budget` (a paid site, for a
 * task whose budget is spent: dispatch's rule, not a link of the chain).
 */
export const EXPLANATION_FILTERS = [...FILTER_NAMES, 'budget'] as const;

/** Why a task's jobs are where they are: the answer to "why is my job pending?". */
export const TaskExplanationSchema = z.object({
  taskId: TaskIdSchema,
  state: z.enum(TASK_STATES),
  /** One sentence per finding, most important first. */
  findings: z.array(z.string()),
  sites: z.array(
    z.object({
      siteId: z.string(),
      chosen: z.boolean(),
      /** Why brokerage would not send this task's jobs there (now). */
      rejected: z.string().optional(),
      /**
       * The filter that rejected it (brokerage's record; or, for a chosen site, the filter it fails
       * now, or `budget`: a paid site, and the task's budget is spent).
       */
      filter: z.enum(EXPLANATION_FILTERS).optional(),
      /** A chosen site's part of the task's jobs, 0..1 (brokerage's record). */
      weight: z.number().optional(),
      status: z.enum(SITE_STATUSES).optional(),
      queuedJobs: z.number().int().optional(),
      pilots: z
        .object({ starting: z.number(), idle: z.number(), busy: z.number(), draining: z.number() })
        .optional(),
      maxPilots: z.number().int().optional(),
    }),
  ),
  /** The brokerage decision stored with the task: candidates, rejections with their filter, weights. */
  brokerage: BrokerageDecisionSchema.optional(),
});
export type TaskExplanation = z.infer<typeof TaskExplanationSchema>;

/**
 * One finding about a job, with a stable code: `state`, `no-site`, `not-brokered`, `not-sent`,
 * `sent-to`, `attempt`, `task-paused`, `site-unknown`, `site-offline`,
 * `site-test`, `site-no-pilots`, `no-pilot-of-class`, `no-pilots`, `pilots-busy`, `pilots-idle`, `budget`, `over-budget`
 * (more may come: clients show `message` for codes they do not know).
 */
export const JobFindingSchema = z.object({
  code: z.string(),
  message: z.string(),
  siteId: z.string().optional(),
});
export type JobFinding = z.infer<typeof JobFindingSchema>;

/** Where one job was sent and why, its attempts, and for a queued job what keeps pilots from it. */
export const JobExplanationSchema = z.object({
  taskId: TaskIdSchema,
  jobIndex: z.number().int().nonnegative(),
  state: z.enum(JOB_STATES),
  attempt: z.number().int().positive(),
  /** The site of its current attempt (or the one it goes to), when it has one. */
  siteId: z.string().optional(),
  /** Most important first. */
  findings: z.array(JobFindingSchema),
});
export type JobExplanation = z.infer<typeof JobExplanationSchema>;

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

export const SandboxResponseSchema = z.object({
  files: z.array(
    z.object({
      name: z.string(),
      key: z.string(),
      sha256: z.string(),
      bytes: z.number().int(),
      uploadUrl: z.string(),
    }),
  ),
});
export type SandboxResponse = z.infer<typeof SandboxResponseSchema>;

/** `gluon resubmit`: which ended jobs run again, and with what. */
export const ResubmitTaskRequestSchema = z
  .strictObject({
    /** Jobs by index and range, e.g. `3,7-9` (at most 5000 jobs); or else `state`. */
    jobs: z
      .string()
      .max(2000)
      .regex(JOB_SELECTION, 'job indexes and ranges separated by commas, e.g. 3,7-9')
      .optional(),
    /** Every job of the task in this state (default: failed). */
    state: z.enum(RESUBMIT_STATES).optional(),
    /** The memory each resubmitted job asks for (MB), within the spec's limits and a site's slot. */
    memoryMB: ResourcesSchema.shape.memoryMB.unwrap().optional(),
    /** The walltime each resubmitted job asks for (seconds), within the spec's limits and a site's slot. */
    walltimeSec: ResourcesSchema.shape.walltimeSec.unwrap().optional(),
    /** The sites the jobs may go to instead of the spec's (each must be able to run them). */
    sites: z.array(SiteIdSchema).min(1).max(100).optional(),
  })
  .refine((r) => r.jobs === undefined || r.state === undefined, {
    path: ['state'],
    message: 'give jobs or state, not both',
  });
export type ResubmitTaskRequest = z.infer<typeof ResubmitTaskRequestSchema>;

export const ResubmitTaskResponseSchema = z.object({
  taskId: TaskIdSchema,
  state: z.enum(TASK_STATES),
  /**
   * Jobs resubmitted: the task's workflow queues them again as a new attempt, within seconds (by
   * `state` on a running task: as counted when asked; the step takes every job in that state).
   */
  jobs: z.number().int().nonnegative(),
  /** Chosen jobs already queued again by an earlier resubmit (a repeated request): left as they are. */
  alreadyResubmitted: z.number().int().nonnegative(),
  /** The task had ended; it runs again and ends when these jobs end. */
  reopened: z.boolean(),
  /** The sites the resubmitted jobs may go to. */
  siteIds: z.array(z.string()),
});
export type ResubmitTaskResponse = z.infer<typeof ResubmitTaskResponseSchema>;
