import type { Page, PageRequest } from '../api/common.ts';
import type { ResolvedFile } from '../catalog/task-inputs.ts';
import type { RangeCounters } from '../event-ranges/range-counts.ts';
import type { OutputFile } from '../jobs/job.ts';
import type { JobCounters, JobCounts } from '../jobs/job-counts.ts';
import type { BrokerageDecision } from '../policies/brokerage-decision.ts';
import type { TaskSizing } from './scout-sizing.ts';
import type { ResubmitOrder, Task, TaskHead, TaskState } from './task.ts';
import type { TaskSpec } from './task-spec.ts';
import type { TaskEvent } from './transitions.ts';

/** One change of a task's job counters, from the change feed; `seq` orders changes within a feed. */
export interface CountEntry {
  seq: string;
  delta: Partial<JobCounters>;
}

/** One change of a task's range counters, from the change feed of range records. */
export interface RangeCountEntry {
  seq: string;
  delta: Partial<RangeCounters>;
}

/** A submission's idempotency key: the owner's key holds the task it made until `expiresAt` (ISO). */
export interface IdempotencyKeyHold {
  key: string;
  expiresAt: string;
  /** Now (ISO): a hold whose expiresAt is not after it is free to take again. */
  now: string;
}

/** What create did: the task was stored, or an unexpired hold on the key names the task it made. */
export type CreateTaskOutcome = { created: true } | { created: false; taskId: string };

export interface TaskStore {
  /**
   * Creates the task (its head and its spec); fails with ConflictError if the id exists. With
   * `idempotency`, the owner's key is taken for the task in the same atomic write; when an
   * unexpired hold on it exists, nothing is written and the task it made is returned.
   */
  create(task: Task, idempotency?: IdempotencyKeyHold): Promise<CreateTaskOutcome>;
  /** Frees the owner's key when it is held for `taskId` (and only then): a later submit may take it. */
  releaseIdempotencyKey(owner: string, key: string, taskId: string): Promise<void>;
  /** The whole task: head, spec and job counts (strongly consistent), or undefined. */
  get(taskId: string): Promise<Task | undefined>;
  /** The small, changing part only. `consistent: false` allows an eventually consistent read (claims). */
  getHead(taskId: string, options?: { consistent?: boolean }): Promise<TaskHead | undefined>;
  /** The spec, which never changes once stored (adapters may cache it). */
  getSpec(taskId: string): Promise<TaskSpec | undefined>;
  /** Head, job counts and the workflow's wait token, without the spec (strongly consistent). */
  getProgress(
    taskId: string,
  ): Promise<
    (TaskHead & { counts: JobCounts; rangeCounters: RangeCounters; waitToken?: string }) | undefined
  >;
  /** Tasks of one owner, newest first, with their job counts. */
  listByOwner(
    owner: string,
    page: PageRequest,
  ): Promise<Page<TaskHead & { counts: JobCounts; rangeCounters: RangeCounters }>>;
  /**
   * Conditional state change (the current state must be a source state of `event`). Returns false
   * when it is not (a replay or a race), never throws for that.
   */
  transition(
    taskId: string,
    event: TaskEvent,
    change: {
      at: string;
      reason?: string;
      siteIds?: string[];
      siteShares?: number[];
      outputs?: OutputFile[];
    },
  ): Promise<boolean>;
  /**
   * Stores the task's brokerage decision (one record per task, replaced by a later one) while the
   * task is `submitted`: false, writing nothing, once it moved on (a replayed split step).
   */
  recordBrokerage(taskId: string, decision: BrokerageDecision): Promise<boolean>;
  /** The task's brokerage decision, or undefined (not brokered yet, or brokered before decisions were kept). */
  getBrokerage(taskId: string): Promise<BrokerageDecision | undefined>;
  /** Records enqueue progress; only ever moves forward. */
  recordEnqueued(taskId: string, jobsEnqueued: number, at: string): Promise<void>;
  /** Records the event-range enqueue progress; only ever moves forward. */
  recordRangesEnqueued(taskId: string, rangesEnqueued: number, at: string): Promise<void>;
  /**
   * Adds the merge jobs of an event-service task: jobCount grows from `consumers` to
   * `consumers + mergeJobs` and mergeJobs is set, once (false when it was set already).
   */
  startMerge(taskId: string, change: { consumers: number; mergeJobs: number; at: string }): Promise<boolean>;
  /**
   * Records a scouted task's sizing (from its scouts) and adds the jobs it cut: jobCount grows
   * from `scouts` to `scouts + sizing.jobs`, in the same write, once, while the task is running
   * (false, changing nothing, when sized already, not at `scouts` jobs, or not running).
   */
  recordSizing(taskId: string, change: { scouts: number; sizing: TaskSizing }): Promise<boolean>;
  /**
   * Steers a task that is not final: pauses or resumes its dispatch, sets its priority. Returns
   * the state seen, or undefined when there is no task (a final task is not changed).
   */
  steer(
    taskId: string,
    change: { paused?: boolean; resumePending?: boolean; priority?: number; at: string },
  ): Promise<TaskState | undefined>;
  /** Sets cancelRequested on a task that is not final. Returns the state seen, or undefined if none. */
  requestCancel(taskId: string, at: string): Promise<TaskState | undefined>;
  /** The cancel step told every running job's pilot to kill it. */
  markCancelSwept(taskId: string, at: string): Promise<void>;
  /**
   * Gives a resubmit order to a task that has none pending, fenced on the state seen (`from`) and
   * on its number following the task's last (`order.order` = resubmitOrders + 1): a running task
   * that is not cancelled keeps running; an ended one (done, partial, failed) with
   * `order.reopened` goes back to running (the reopen transition, recorded in its history with
   * `reason`; its end time, reason, outputs, pause and old wait token cleared). False when refused
   * (the task changed meanwhile), never throws for that.
   */
  resubmit(
    taskId: string,
    order: ResubmitOrder,
    change: { from: TaskState; reason: string },
  ): Promise<boolean>;
  /**
   * Ends resubmit order `order`: the order is removed and the jobs it queued are added to
   * jobsResubmitted, once (false, changing nothing, when that order is not pending).
   */
  endResubmit(taskId: string, change: { order: number; jobs: number; at: string }): Promise<boolean>;
  /** Stores the workflow's wait token; the next wait (or a restarted execution) replaces it. */
  storeWaitToken(taskId: string, token: string): Promise<void>;
  /**
   * Adds counter changes of one feed (a stream shard) exactly once per entry: entries whose `seq`
   * was applied already (a redelivered batch) are skipped. Entries come in `seq` order.
   */
  addJobCounts(taskId: string, feed: string, entries: CountEntry[]): Promise<void>;
  /** The same, for the range counters of an event-service task (kept apart from the job counters). */
  addRangeCounts(taskId: string, feed: string, entries: RangeCountEntry[]): Promise<void>;
  /**
   * Adds resolved input files of a dataset task after the `from` resolved before (getSpec gives
   * them back as `spec.inputs.resolved`) and sets the jobCount they make, in one write fenced on
   * the head's inputFiles being `from`, its inputs not closed and the task not final. `closed`: the
   * dataset was closed, no file comes after. False, writing nothing, when the fence fails (a replay).
   */
  addInputs(taskId: string, change: AddInputs): Promise<boolean>;
}

export interface AddInputs {
  from: number;
  files: ResolvedFile[];
  endpoints: Record<string, string[]>;
  closed: boolean;
  jobCount: number;
  /** Where the next listing of the dataset starts (a page token of the catalog), kept on the head. */
  cursor?: string;
  at: string;
}

/** What the wait step of the workflow learns when it is released. */
export interface WaitOutcome {
  taskId: string;
  /** The task was cancelled and its running jobs must be told to stop (the cancel step runs next). */
  sweep: boolean;
  /** The task was resumed after a pause: its queued jobs' messages are sent again (the resume step). */
  resume?: boolean;
  /** The owner resubmitted jobs: the resubmit step queues them again, then the wait goes on. */
  resubmit?: boolean;
}

export interface WorkflowEngine {
  /**
   * Starts the task workflow; idempotent per task (the execution name is the task id). With
   * `resubmitOrder`, the execution of a task that a resubmit reopened (named
   * `<taskId>-r<order>`, idempotent too): it starts at the resubmit step, then waits and finalizes.
   */
  startTask(taskId: string, options?: { resubmitOrder?: number }): Promise<void>;
  /** Lets the workflow's wait step go on. */
  releaseWait(token: string, output: WaitOutcome): Promise<void>;
}
