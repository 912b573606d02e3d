/**
 * The ports the use cases need. Adapters (DynamoDB, SQS, S3, Step Functions) implement them in
 * `lambdas/adapters/`; tests may give their own.
 */
import type { Page, PilotCredentials } from './api/contract.ts';
import type { Attempt, Job, JobState } from './jobs/job.ts';
import type { JobMessage } from './jobs/job-message.ts';
import type { Pilot, PilotState } from './pilots/pilot.ts';
import type { Site } from './sites/site.ts';
import type { Task, TaskState } from './tasks/task.ts';
import type { JobEvent, TaskEvent } from './tasks/transitions.ts';

export interface PageRequest {
  limit: number;
  nextToken?: string;
}

export interface TaskStore {
  /** Creates the task; fails with ConflictError if the id exists. */
  create(task: Task): Promise<void>;
  /** The task with exact job counts (strongly consistent), or undefined. */
  get(taskId: string): Promise<Task | undefined>;
  /** Tasks of one owner, newest first. Counts included. */
  listByOwner(owner: string, page: PageRequest): Promise<Page<Task>>;
  /**
   * Conditional state change (expects the current state to be a source state of `event`).
   * Returns false when the task is not in a source state (a replay or a race), never throws for that.
   */
  transition(
    taskId: string,
    event: TaskEvent,
    change: { at: string; reason?: string; jobCount?: number; siteIds?: string[] },
  ): Promise<boolean>;
  /** Records enqueue progress; only ever moves forward. */
  recordEnqueued(taskId: string, jobsEnqueued: number, at: string): Promise<void>;
  /** Sets cancelRequested on a task that is not final. Returns the task state seen, or undefined if none. */
  requestCancel(taskId: string, at: string): Promise<TaskState | undefined>;
  /**
   * Stores the workflow's wait token. A new token (a restarted execution) replaces the old one and
   * can be taken again; storing the same token twice changes nothing.
   */
  storeWaitToken(taskId: string, token: string): Promise<void>;
  /** Takes the wait token exactly once (conditional); undefined if none or already taken. */
  takeWaitToken(taskId: string): Promise<string | undefined>;
}

/** A state change of one job, fenced by the expected state, attempt and (when leased) pilot. */
export interface JobTransition {
  taskId: string;
  jobIndex: number;
  event: JobEvent;
  expected: { state: JobState; attempt: number; pilotId?: string };
  /** Fields to set besides `state` (which follows from the event) and `updatedAt`. */
  set?: Partial<Omit<Job, 'taskId' | 'jobIndex' | 'jobId' | 'state' | 'attempts'>>;
  /** Fields to remove (e.g. the lease when the job leaves a leased state). */
  remove?: Array<
    'pilotId' | 'host' | 'leaseExpiresAt' | 'startedAt' | 'exitCode' | 'pilotErrorCode' | 'errorMessage'
  >;
  /** An attempt record appended to the job's history. */
  appendAttempt?: Attempt;
  /** Makes the transition conditional on the task not being cancelled. */
  unlessTaskCancelled?: boolean;
  at: string;
}

export type TransitionOutcome = 'ok' | 'conflict' | 'task-cancelled';

export interface JobStore {
  /**
   * Creates jobs in state `queued` (attempt 1) unless they exist. Idempotent: a replayed page
   * creates nothing twice. Returns how many were new.
   */
  createQueued(jobs: Job[]): Promise<number>;
  get(taskId: string, jobIndex: number): Promise<Job | undefined>;
  listByTask(taskId: string, filter: { state?: JobState }, page: PageRequest): Promise<Page<Job>>;
  /**
   * Applies one transition and updates the task's job counters in the same transaction, so
   * counters stay exact under concurrency and replays.
   */
  transition(t: JobTransition): Promise<TransitionOutcome>;
  /** Renews the lease of a leased job held by `pilotId` at `attempt`. False if not held any more. */
  renewLease(
    ref: { taskId: string; jobIndex: number; attempt: number; pilotId: string },
    leaseExpiresAt: number,
    at: string,
  ): Promise<boolean>;
  /**
   * Pushes back the dispatch lease of a queued job at `attempt` (its message was sent again).
   * False if the job is not queued at that attempt any more.
   */
  renewDispatch(
    ref: { taskId: string; jobIndex: number; attempt: number },
    leaseExpiresAt: number,
    at: string,
  ): Promise<boolean>;
  /**
   * Jobs whose lease expired before `now` (epoch ms), oldest first: starting/running jobs whose pilot
   * stopped heartbeating, and queued jobs whose message went unclaimed for the dispatch lease.
   */
  listExpiredLeases(now: number, limit: number): Promise<Job[]>;
}

export interface JobQueue {
  /** Creates the site's job queue and its DLQ if missing; returns the queue URL. */
  ensureSiteQueue(siteId: string): Promise<{ queueUrl: string; dlqUrl: string }>;
  queueUrl(siteId: string): Promise<string>;
  /** Sends job messages (batches of 10, failed entries retried). All go to `message.siteId`'s queue. */
  send(messages: JobMessage[]): Promise<void>;
  /** Approximate number of visible messages in a site's queue (for pilot demand). */
  depth(siteId: string): Promise<number>;
}

export interface ObjectStore {
  readonly bucket: string;
  presignPut(key: string, expiresInSec: number): Promise<string>;
}

export interface SiteStore {
  put(site: Site): Promise<void>;
  get(siteId: string): Promise<Site | undefined>;
  list(): Promise<Site[]>;
}

export interface PilotStore {
  register(pilot: Pilot): Promise<void>;
  get(pilotId: string): Promise<Pilot | undefined>;
  list(page: PageRequest): Promise<Page<Pilot>>;
  /** Records a heartbeat: state, time and the job in hand. */
  heartbeat(pilotId: string, change: { state: PilotState; at: string; currentJobId?: string }): Promise<void>;
  /** The pilot ended a job: one more job run, idle again (one write). */
  jobEnded(pilotId: string, at: string): Promise<void>;
  /** Live pilots of a site by state (starting, idle, busy, draining). */
  countBySite(siteId: string): Promise<{ starting: number; idle: number; busy: number; draining: number }>;
  /** Marks pilots whose last heartbeat is older than `before` (ISO) as lost. Returns their ids. */
  markLost(before: string): Promise<string[]>;
}

/** Vends short-lived credentials scoped to one site (STS in AWS); undefined where pilots bring their own. */
export interface CredentialVendor {
  vend(scope: {
    pilotId: string;
    siteId: string;
    queueUrl: string;
    bucket: string;
  }): Promise<PilotCredentials | undefined>;
}

export interface WorkflowEngine {
  /** Starts the task workflow; idempotent per task (the execution name is the task id). */
  startTask(taskId: string): Promise<void>;
  /** Lets the workflow's wait step go on. */
  releaseWait(token: string, output: { taskId: string }): Promise<void>;
}

export interface Clock {
  now(): Date;
}

export interface Ids {
  taskId(): string;
  pilotId(): string;
}
