import { z } from 'zod';
import type { ReplicaRef } from '../catalog/task-inputs.ts';
import type { PilotErrorCode } from '../pilots/pilot-error-codes.ts';

/**
 * A job is `defined` until its page is enqueued, `queued` while its message waits, `running` from
 * the claim of a pilot (stage-in included) to its report, then final. A retry is a new attempt of
 * the same job, queued again.
 */
export const JOB_STATES = ['defined', 'queued', 'running', 'finished', 'failed', 'cancelled'] as const;
export type JobState = (typeof JOB_STATES)[number];
export const FINAL_JOB_STATES: ReadonlySet<JobState> = new Set(['finished', 'failed', 'cancelled']);

export function isFinalJobState(state: JobState): boolean {
  return FINAL_JOB_STATES.has(state);
}

/** States a job record can be in: a record is written at the first claim, so never `defined`. */
export type RecordedJobState = Exclude<JobState, 'defined'>;

export const OutputFileSchema = z.strictObject({
  name: z.string().min(1).max(200),
  key: z.string().min(1).max(1024),
  bytes: z.number().int().nonnegative(),
  adler32: z
    .string()
    .regex(/^[0-9a-f]{8}$/, '8 lower-case hex digits')
    .optional(),
});
export type OutputFile = z.infer<typeof OutputFileSchema>;

/** Measured usage of one attempt, reported by the pilot. */
export const UsageSchema = z.strictObject({
  wallTimeSec: z.number().nonnegative(),
  cpuTimeSec: z.number().nonnegative(),
  maxRssKB: z.number().int().nonnegative(),
});
export type Usage = z.infer<typeof UsageSchema>;

/**
 * How an attempt ended: `lost` when its pilot vanished, `evicted` when the pilot was stopped,
 * `abandoned` when a claim's answer never reached its pilot (or its pilot vanished mid-claim).
 */
export const ATTEMPT_END_STATES = [
  'finished',
  'failed',
  'lost',
  'evicted',
  'cancelled',
  'abandoned',
] as const;
export type AttemptEndState = (typeof ATTEMPT_END_STATES)[number];

/** Memory or walltime raised for retries (escalateResources); the task's spec otherwise. */
export interface ResourceOverride {
  memoryMB?: number;
  walltimeSec?: number;
}

/** One ended execution of a job, written once as its own record. */
export interface Attempt {
  attempt: number;
  pilotId: string;
  siteId: string;
  host?: string;
  state: AttemptEndState;
  /** When the pilot claimed the job (the attempt began). */
  startedAt: string;
  endedAt: string;
  pilotErrorCode: PilotErrorCode;
  exitCode?: number;
  signal?: string;
  errorMessage?: string;
  usage?: Usage;
  resources?: ResourceOverride;
  outputs?: OutputFile[];
  /** The attempt's log object (pilot notes and payload output). */
  log?: OutputFile;
}

/** What the spec says of one input file of a job, so the pilot can verify what it stages in. */
export interface JobInput {
  name: string;
  adler32?: string;
  bytes?: number;
  events?: number;
  /** A catalog file's usable replicas (a dataset task's), in the order resolved; the claim orders them per site. */
  replicas?: ReplicaRef[];
}

/** A job's share of its task, computed from the spec and the index alone (core/tasks/split-task.ts). */
export interface JobParameters {
  jobIndex: number;
  firstEvent?: number;
  nEvents?: number;
  inputs?: JobInput[];
}

/**
 * The stored job: written at its first claim (a job without a record is queued, or defined), kept
 * under 1 KB: the task's immutable data is not copied onto it, and ended attempts are their own
 * records. It holds the current attempt, or the last one once the job is final.
 */
export interface JobRecord {
  taskId: string;
  jobIndex: number;
  state: RecordedJobState;
  attempt: number;
  /** Attempts that counted against the task's maxAttempts (system errors do not). */
  failures: number;
  /** Retries that spent no attempt (infrastructure errors), bounded by the retry rules' systemRetryLimit. */
  systemRetries?: number;
  /** The queued attempt's message waits this long in its queue (a retry rule's back-off). */
  backoffSec?: number;
  siteId: string;
  resources?: ResourceOverride;
  pilotId?: string;
  host?: string;
  /** When the current attempt's message was sent. */
  queuedAt?: string;
  startedAt?: string;
  endedAt?: string;
  pilotErrorCode?: PilotErrorCode;
  exitCode?: number;
  signal?: string;
  errorMessage?: string;
  usage?: Usage;
  outputs?: OutputFile[];
  log?: OutputFile;
  /** The attempt that just ended when the job went back to the queue; the change feed archives it. */
  ended?: Attempt;
  /** The owner's last resubmit of this job: its order (the task's resubmitOrders) and the attempt it queued. */
  resubmitted?: { order: number; attempt: number };
  updatedAt: string;
}

/** Error messages kept on records are short; the whole text is in the attempt's log. */
export const RECORDED_MESSAGE_MAX = 500;

export function recordedMessage(message: string | undefined): string | undefined {
  if (message === undefined) return undefined;
  return message.length <= RECORDED_MESSAGE_MAX ? message : `${message.slice(0, RECORDED_MESSAGE_MAX - 1)}…`;
}

/** Job ids are `<taskId>.<jobIndex>` so a job can be found from its id alone. */
export function jobIdOf(taskId: string, jobIndex: number): string {
  return `${taskId}.${jobIndex}`;
}

export function parseJobId(jobId: string): { taskId: string; jobIndex: number } | undefined {
  const match = /^([^.]+)\.(0|[1-9][0-9]*)$/.exec(jobId);
  if (match === null) return undefined;
  const jobIndex = Number(match[2]);
  if (!Number.isSafeInteger(jobIndex)) return undefined;
  return { taskId: match[1] as string, jobIndex };
}

/** One attempt of one job: what a message, a claim, a report and a lease name. */
export interface JobRef {
  taskId: string;
  jobIndex: number;
  attempt: number;
}

/** `<taskId>.<jobIndex>.<attempt>`: an attempt as one string (pilot leases list them). */
export function attemptKey(ref: JobRef): string {
  return `${ref.taskId}.${ref.jobIndex}.${ref.attempt}`;
}

export function parseAttemptKey(key: string): JobRef | undefined {
  const match = /^([^.]+)\.(0|[1-9][0-9]*)\.([1-9][0-9]*)$/.exec(key);
  if (match === null) return undefined;
  const jobIndex = Number(match[2]);
  const attempt = Number(match[3]);
  if (!Number.isSafeInteger(jobIndex) || !Number.isSafeInteger(attempt)) return undefined;
  return { taskId: match[1] as string, jobIndex, attempt };
}

export function sameAttempt(a: JobRef, b: JobRef): boolean {
  return a.taskId === b.taskId && a.jobIndex === b.jobIndex && a.attempt === b.attempt;
}
