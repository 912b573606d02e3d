/** The event-range routes' bodies and answers: a pilot's batch report, and the task's range list. */
import { z } from 'zod';
import { RANGE_STATES, RangeOutputSchema } from '../event-ranges/event-range.ts';
import { isPilotErrorCode } from '../pilots/pilot-error-codes.ts';
import { PageQuerySchema, pageOf, TaskIdSchema, TimeSchema } from './common.ts';

/** One range in a pilot's report: what it covered, and how its attempt went. */
export const RangeReportSchema = z.strictObject({
  rangeIndex: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  attempt: z.number().int().min(1).max(100),
  /** `running`: a long range, reported when its lease is first extended. */
  state: z.enum(['running', 'finished', 'failed']),
  firstEvent: z.number().int().nonnegative(),
  nEvents: z.number().int().min(1),
  file: z.string().min(1).max(1024).optional(),
  /** The range's output object (finished ranges only). */
  output: RangeOutputSchema.optional(),
  errorCode: z.number().int().refine(isPilotErrorCode, 'a known pilot error code (see README)').optional(),
  error: z.string().max(2000).optional(),
  wallTimeSec: z.number().nonnegative().optional(),
});
export type RangeReport = z.infer<typeof RangeReportSchema>;

export const REPORT_RANGES_MAX = 500;

/**
 * A batch of range reports from the consumer job (`taskId`, `jobIndex`, `attempt`) the pilot
 * holds: only a holder of one of the task's consumer jobs may report its ranges.
 */
export const ReportRangesRequestSchema = z
  .strictObject({
    taskId: TaskIdSchema,
    jobIndex: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
    attempt: z.number().int().min(1),
    /** Empty: only asks how many ranges remain (a consumer that found the queue empty). */
    ranges: z.array(RangeReportSchema).max(REPORT_RANGES_MAX),
  })
  .superRefine((body, ctx) => {
    body.ranges.forEach((r, i) => {
      if (r.state === 'finished' && r.output === undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['ranges', i, 'output'],
          message: 'required for a finished range',
        });
      if (r.state === 'failed' && r.errorCode === undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['ranges', i, 'errorCode'],
          message: 'required for a failed range',
        });
    });
  });
export type ReportRangesRequest = z.infer<typeof ReportRangesRequestSchema>;

/** `recorded`: counted now; `duplicate`: already so (a replay), counted once; `stale`: refused (out of date). */
export const RANGE_REPORT_OUTCOMES = ['recorded', 'duplicate', 'stale'] as const;

export const ReportRangesResponseSchema = z.object({
  outcomes: z.array(
    z.object({
      rangeIndex: z.number().int(),
      outcome: z.enum(RANGE_REPORT_OUTCOMES),
      state: z.enum(RANGE_STATES).optional(),
    }),
  ),
  /** Ranges of the task that are neither finished nor fatal (from the counters: may lag a second). */
  remaining: z.number().int().nonnegative(),
  /** The task was cancelled: stop. */
  cancelled: z.boolean(),
});
export type ReportRangesResponse = z.infer<typeof ReportRangesResponseSchema>;

/** Ranges by state, and events, of an event-service task. */
export const RangeCountsSchema = z.object({
  total: z.number().int().nonnegative(),
  ready: z.number().int().nonnegative(),
  running: z.number().int().nonnegative(),
  finished: z.number().int().nonnegative(),
  failed: z.number().int().nonnegative(),
  fatal: z.number().int().nonnegative(),
  events: z.number().int().nonnegative(),
  eventsFinished: z.number().int().nonnegative(),
});

export const RangeViewSchema = z.object({
  rangeIndex: z.number().int().nonnegative(),
  state: z.enum(RANGE_STATES),
  attempt: z.number().int().nonnegative(),
  firstEvent: z.number().int().nonnegative(),
  nEvents: z.number().int().nonnegative(),
  file: z.string().optional(),
  pilotId: z.string().optional(),
  jobIndex: z.number().int().optional(),
  output: RangeOutputSchema.optional(),
  errorCode: z.number().int().optional(),
  error: z.string().optional(),
  wallTimeSec: z.number().optional(),
  updatedAt: TimeSchema.optional(),
});
export type RangeView = z.infer<typeof RangeViewSchema>;

export const RangePageSchema = pageOf(RangeViewSchema);

export const ListRangesQuerySchema = PageQuerySchema.extend({
  state: z.enum(RANGE_STATES).optional(),
});
export type ListRangesQuery = z.infer<typeof ListRangesQuerySchema>;

/**
 * What a consumer job's claim carries besides the job: where its ranges are, and how to run them.
 * Range outputs go to `<outputPrefix><rangeIndex>/<pilotId>.a<attempt>/<output>`.
 */
export const ConsumerSchema = z.object({
  rangeQueueUrl: z.string(),
  mode: z.enum(['process-per-range', 'stream']),
  maxRangeAttempts: z.number().int().min(1),
  stopAfterFailures: z.number().int().min(1),
  /** The SQS visibility timeout of the range queue: a range's lease, extended while it runs. */
  rangeLeaseSec: z.number().int().positive(),
  /** The one output file a range's payload writes. */
  output: z.string(),
  outputPrefix: z.string(),
});
export type Consumer = z.infer<typeof ConsumerSchema>;
