import { z } from 'zod';
import type { PilotErrorCode } from '../pilots/pilot-error-codes.ts';

export const JOB_STATES = [
  'defined',
  'queued',
  'starting',
  'running',
  'finished',
  'failed',
  'cancelled',
] as const;
export type JobState = (typeof JOB_STATES)[number];
export const FINAL_JOB_STATES: ReadonlySet<JobState> = new Set(['finished', 'failed', 'cancelled']);
/** States in which a pilot holds the job under a lease. */
export const LEASED_JOB_STATES: ReadonlySet<JobState> = new Set(['starting', 'running']);

export function isFinalJobState(state: JobState): boolean {
  return FINAL_JOB_STATES.has(state);
}

export const OutputFileSchema = z.strictObject({
  name: z.string().min(1).max(200),
  key: z.string().min(1).max(1024),
  bytes: z.number().int().nonnegative(),
  adler32: z
    .string()
    .regex(/^[0-9a-f]{8}$/)
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

/** One execution of a job. A retry is a new attempt of the same job. */
export interface Attempt {
  attempt: number;
  pilotId: string;
  siteId: string;
  host?: string;
  state: 'finished' | 'failed' | 'lost' | 'evicted' | 'cancelled';
  startedAt: string;
  endedAt: string;
  exitCode?: number;
  signal?: string;
  pilotErrorCode: PilotErrorCode;
  errorMessage?: string;
  usage?: Usage;
  outputs?: OutputFile[];
  logKey?: string;
  logArchive?: OutputFile;
}

/** Placeholder values of one job (also given to the payload as GLUON_* variables). */
export interface JobParameters {
  jobIndex: number;
  firstEvent?: number;
  nEvents?: number;
  inputFiles?: string[];
}

export interface Job extends JobParameters {
  taskId: string;
  jobId: string;
  owner: string;
  state: JobState;
  /** Current attempt number, starting at 1. */
  attempt: number;
  /** Attempts that counted against the task's maxAttempts (evictions do not). */
  failures: number;
  siteId: string;
  /** Memory or walltime raised for retries (see escalateResources); the task's spec otherwise. */
  resources?: { memoryMB?: number; walltimeSec?: number };
  pilotId?: string;
  host?: string;
  leaseExpiresAt?: number;
  createdAt: string;
  updatedAt: string;
  queuedAt?: string;
  startedAt?: string;
  endedAt?: string;
  exitCode?: number;
  pilotErrorCode?: PilotErrorCode;
  errorMessage?: string;
  usage?: Usage;
  outputs?: OutputFile[];
  logKey?: string;
  attempts: Attempt[];
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
