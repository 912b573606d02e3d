/**
 * In-memory implementations of every port in core/ports.ts, for unit tests of the use cases.
 *
 * They keep the semantics of the DynamoDB adapters where a use case depends on them:
 * - job transitions are fenced on the expected state, attempt and (when given) pilot id, and a
 *   move the event does not allow from the expected state is a conflict;
 * - job counts live with the task: only the counted states (starting, running, finished, failed,
 *   cancelled) are stored; `defined` and `queued` are derived from jobCount and jobsEnqueued;
 * - the wait token is taken at most once per stored token;
 * - every read returns a copy, so a use case cannot change stored state by mutating a result.
 */
import type { Page, PilotCredentials } from '#core/api/contract.ts';
import type { Deps, Settings } from '#core/deps.ts';
import { ConflictError, NotFoundError } from '#core/errors.ts';
import { type Job, type JobState, LEASED_JOB_STATES } from '#core/jobs/job.ts';
import { type JobMessage, JobMessageSchema } from '#core/jobs/job-message.ts';
import type { Pilot, PilotState } from '#core/pilots/pilot.ts';
import type {
  Clock,
  CredentialVendor,
  Ids,
  JobQueue,
  JobStore,
  JobTransition,
  ObjectStore,
  PageRequest,
  PilotStore,
  SiteStore,
  TaskStore,
  TransitionOutcome,
  WorkflowEngine,
} from '#core/ports.ts';
import { type Site, type SiteInput, SiteSchema } from '#core/sites/site.ts';
import {
  emptyJobCounts,
  FINAL_TASK_STATES,
  isFinalTaskState,
  type JobCounts,
  type Task,
  type TaskState,
} from '#core/tasks/task.ts';
import {
  canJobTransition,
  JOB_TRANSITIONS,
  TASK_TRANSITIONS,
  type TaskEvent,
} from '#core/tasks/transitions.ts';

/** Job states with a stored counter; `defined` and `queued` are derived. */
export const COUNTED_JOB_STATES = ['starting', 'running', 'finished', 'failed', 'cancelled'] as const;
export type CountedJobState = (typeof COUNTED_JOB_STATES)[number];

function isCounted(state: JobState): state is CountedJobState {
  return (COUNTED_JOB_STATES as readonly JobState[]).includes(state);
}

function copy<T>(value: T): T {
  return structuredClone(value);
}

/** A page of `items` (already in order) after the position named by `nextToken` (an offset). */
function pageOf<T>(items: T[], page: PageRequest): Page<T> {
  const from = page.nextToken === undefined ? 0 : Number(page.nextToken);
  if (!Number.isSafeInteger(from) || from < 0) throw new Error(`bad page token ${page.nextToken}`);
  const slice = items.slice(from, from + page.limit);
  const end = from + slice.length;
  return end < items.length ? { items: slice, nextToken: String(end) } : { items: slice };
}

interface StoredTask {
  task: Omit<Task, 'counts'>;
  waitToken?: string;
  waitReleased: boolean;
}

export class InMemoryTaskStore implements TaskStore {
  private readonly tasks = new Map<string, StoredTask>();
  /** Counters per task, kept apart from the task item as in DynamoDB (they exist even without it). */
  private readonly counters = new Map<string, Record<CountedJobState, number>>();

  async create(task: Task): Promise<void> {
    if (this.tasks.has(task.taskId)) throw new ConflictError(`task ${task.taskId} already exists`);
    const { counts: _derived, ...rest } = copy(task);
    this.tasks.set(task.taskId, { task: rest, waitReleased: false });
  }

  /**
   * Test helper: stores a task as given, its counted-state counts included (queued and defined
   * are still derived). Overwrites an existing task.
   */
  seed(task: Task): void {
    const { counts, ...rest } = copy(task);
    this.tasks.set(task.taskId, { task: rest, waitReleased: false });
    const counters = this.countersOf(task.taskId);
    for (const state of COUNTED_JOB_STATES) counters[state] = counts[state];
  }

  async get(taskId: string): Promise<Task | undefined> {
    const stored = this.tasks.get(taskId);
    return stored === undefined ? undefined : this.withCounts(stored.task);
  }

  async listByOwner(owner: string, page: PageRequest): Promise<Page<Task>> {
    const owned = [...this.tasks.values()]
      .map((s) => s.task)
      .filter((t) => t.owner === owner)
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.taskId.localeCompare(a.taskId));
    const result = pageOf(owned, page);
    return { ...result, items: result.items.map((t) => this.withCounts(t)) };
  }

  async transition(
    taskId: string,
    event: TaskEvent,
    change: { at: string; reason?: string; jobCount?: number; siteIds?: string[] },
  ): Promise<boolean> {
    const stored = this.tasks.get(taskId);
    const { from, to } = TASK_TRANSITIONS[event];
    if (stored === undefined || !(from as readonly TaskState[]).includes(stored.task.state)) return false;
    const task = stored.task;
    task.state = to;
    task.updatedAt = change.at;
    task.history.push({
      state: to,
      at: change.at,
      ...(change.reason === undefined ? {} : { reason: change.reason }),
    });
    if (change.reason !== undefined) task.reason = change.reason;
    if (change.jobCount !== undefined) task.jobCount = change.jobCount;
    if (change.siteIds !== undefined) task.siteIds = [...change.siteIds];
    if (isFinalTaskState(to)) task.endedAt = change.at;
    return true;
  }

  async recordEnqueued(taskId: string, jobsEnqueued: number, at: string): Promise<void> {
    const stored = this.tasks.get(taskId);
    if (stored === undefined || stored.task.jobsEnqueued >= jobsEnqueued) return;
    stored.task.jobsEnqueued = jobsEnqueued;
    stored.task.updatedAt = at;
  }

  async requestCancel(taskId: string, at: string): Promise<TaskState | undefined> {
    const stored = this.tasks.get(taskId);
    if (stored === undefined) return undefined;
    if (FINAL_TASK_STATES.has(stored.task.state)) return stored.task.state;
    stored.task.cancelRequested = true;
    stored.task.updatedAt = at;
    return stored.task.state;
  }

  async storeWaitToken(taskId: string, token: string): Promise<void> {
    const stored = this.tasks.get(taskId);
    if (stored === undefined) throw new NotFoundError(`task ${taskId} not found`);
    if (stored.waitToken === token) return;
    stored.waitToken = token;
    stored.waitReleased = false;
  }

  async takeWaitToken(taskId: string): Promise<string | undefined> {
    const stored = this.tasks.get(taskId);
    if (stored?.waitToken === undefined || stored.waitReleased) return undefined;
    stored.waitReleased = true;
    return stored.waitToken;
  }

  // ---- for InMemoryJobStore and tests -----------------------------------------------------------

  /** Moves the task's counters by `delta` for `state` (what the job store's transaction does). */
  addCount(taskId: string, state: CountedJobState, delta: number): void {
    this.countersOf(taskId)[state] += delta;
  }

  isCancelRequested(taskId: string): boolean {
    return this.tasks.get(taskId)?.task.cancelRequested === true;
  }

  /** The stored wait token and whether it was taken (undefined when no task). */
  waitTokenOf(taskId: string): { token?: string; released: boolean } | undefined {
    const stored = this.tasks.get(taskId);
    if (stored === undefined) return undefined;
    return {
      ...(stored.waitToken === undefined ? {} : { token: stored.waitToken }),
      released: stored.waitReleased,
    };
  }

  size(): number {
    return this.tasks.size;
  }

  private countersOf(taskId: string): Record<CountedJobState, number> {
    let counters = this.counters.get(taskId);
    if (counters === undefined) {
      counters = { starting: 0, running: 0, finished: 0, failed: 0, cancelled: 0 };
      this.counters.set(taskId, counters);
    }
    return counters;
  }

  private withCounts(task: Omit<Task, 'counts'>): Task {
    const counts: JobCounts = emptyJobCounts();
    const counters = this.counters.get(task.taskId);
    let inCounted = 0;
    for (const state of COUNTED_JOB_STATES) {
      counts[state] = counters?.[state] ?? 0;
      inCounted += counts[state];
    }
    counts.defined = Math.max(0, task.jobCount - task.jobsEnqueued);
    counts.queued = Math.max(0, task.jobsEnqueued - inCounted);
    return { ...copy(task), cancelRequested: task.cancelRequested === true, counts };
  }
}

/** Jobs keyed by task and index; transitions move the task's counters in the same step. */
export class InMemoryJobStore implements JobStore {
  private readonly jobs = new Map<string, Map<number, Job>>();
  private readonly tasks: InMemoryTaskStore;
  /** Every transition asked for, with its outcome (for assertions). */
  readonly transitions: Array<{ transition: JobTransition; outcome: TransitionOutcome }> = [];

  constructor(tasks: InMemoryTaskStore) {
    this.tasks = tasks;
  }

  async createQueued(jobs: Job[]): Promise<number> {
    for (const job of jobs) {
      if (job.state !== 'queued')
        throw new Error(`createQueued: job ${job.jobId} is ${job.state}, not queued`);
    }
    let created = 0;
    for (const job of jobs) {
      const byIndex = this.byTask(job.taskId);
      if (byIndex.has(job.jobIndex)) continue;
      byIndex.set(job.jobIndex, copy(job));
      created++;
    }
    return created;
  }

  async get(taskId: string, jobIndex: number): Promise<Job | undefined> {
    const job = this.jobs.get(taskId)?.get(jobIndex);
    return job === undefined ? undefined : copy(job);
  }

  /** In jobIndex order; the page token is the last jobIndex returned, so pages survive state changes. */
  async listByTask(taskId: string, filter: { state?: JobState }, page: PageRequest): Promise<Page<Job>> {
    const after = page.nextToken === undefined ? -1 : Number(page.nextToken);
    const matching = [...(this.jobs.get(taskId)?.values() ?? [])]
      .filter((j) => j.jobIndex > after && (filter.state === undefined || j.state === filter.state))
      .sort((a, b) => a.jobIndex - b.jobIndex);
    const items = matching.slice(0, page.limit).map(copy);
    const last = items.at(-1);
    return matching.length > page.limit && last !== undefined
      ? { items, nextToken: String(last.jobIndex) }
      : { items };
  }

  async transition(t: JobTransition): Promise<TransitionOutcome> {
    const outcome = this.apply(t);
    this.transitions.push({ transition: copy(t), outcome });
    return outcome;
  }

  async renewLease(
    ref: { taskId: string; jobIndex: number; attempt: number; pilotId: string },
    leaseExpiresAt: number,
    at: string,
  ): Promise<boolean> {
    const job = this.jobs.get(ref.taskId)?.get(ref.jobIndex);
    if (job === undefined || !LEASED_JOB_STATES.has(job.state)) return false;
    if (job.attempt !== ref.attempt || job.pilotId !== ref.pilotId) return false;
    job.leaseExpiresAt = leaseExpiresAt;
    job.updatedAt = at;
    return true;
  }

  async renewDispatch(
    ref: { taskId: string; jobIndex: number; attempt: number },
    leaseExpiresAt: number,
    at: string,
  ): Promise<boolean> {
    const job = this.jobs.get(ref.taskId)?.get(ref.jobIndex);
    if (job === undefined || job.state !== 'queued' || job.attempt !== ref.attempt) return false;
    job.leaseExpiresAt = leaseExpiresAt;
    job.updatedAt = at;
    return true;
  }

  async listExpiredLeases(now: number, limit: number): Promise<Job[]> {
    if (limit <= 0) return [];
    return this.all()
      .filter(
        (j) =>
          (j.state === 'queued' || LEASED_JOB_STATES.has(j.state)) &&
          j.leaseExpiresAt !== undefined &&
          j.leaseExpiresAt < now,
      )
      .sort((a, b) => (a.leaseExpiresAt ?? 0) - (b.leaseExpiresAt ?? 0))
      .slice(0, limit)
      .map(copy);
  }

  /** Test helper: every stored job (copies), ordered by task and index. */
  all(): Job[] {
    return [...this.jobs.values()]
      .flatMap((byIndex) => [...byIndex.values()])
      .sort((a, b) => a.taskId.localeCompare(b.taskId) || a.jobIndex - b.jobIndex)
      .map(copy);
  }

  /** Test helper: changes a stored job directly (no fencing, no counters). */
  patch(taskId: string, jobIndex: number, fields: Partial<Job>): void {
    const job = this.jobs.get(taskId)?.get(jobIndex);
    if (job === undefined) throw new Error(`no job ${taskId}.${jobIndex}`);
    Object.assign(job, copy(fields));
  }

  private apply(t: JobTransition): TransitionOutcome {
    if (!canJobTransition(t.expected.state, t.event)) return 'conflict';
    const job = this.jobs.get(t.taskId)?.get(t.jobIndex);
    if (job === undefined) return 'conflict';
    if (job.state !== t.expected.state || job.attempt !== t.expected.attempt) return 'conflict';
    if (t.expected.pilotId !== undefined && job.pilotId !== t.expected.pilotId) return 'conflict';
    if (t.unlessTaskCancelled === true && this.tasks.isCancelRequested(t.taskId)) return 'task-cancelled';
    const from = job.state;
    const to = JOB_TRANSITIONS[t.event].to;
    for (const [field, value] of Object.entries(t.set ?? {})) {
      if (value === undefined || field === 'updatedAt') continue;
      (job as unknown as Record<string, unknown>)[field] = copy(value);
    }
    for (const field of t.remove ?? []) delete job[field];
    job.state = to;
    job.updatedAt = t.at;
    if (t.appendAttempt !== undefined) job.attempts.push(copy(t.appendAttempt));
    if (isCounted(from)) this.tasks.addCount(t.taskId, from, -1);
    if (isCounted(to)) this.tasks.addCount(t.taskId, to, +1);
    return 'ok';
  }

  private byTask(taskId: string): Map<number, Job> {
    let byIndex = this.jobs.get(taskId);
    if (byIndex === undefined) {
      byIndex = new Map();
      this.jobs.set(taskId, byIndex);
    }
    return byIndex;
  }
}

/** Records every message sent; messages are validated as the real queue's consumers would. */
export class InMemoryJobQueue implements JobQueue {
  readonly sent: JobMessage[] = [];
  readonly queues = new Set<string>();

  async ensureSiteQueue(siteId: string): Promise<{ queueUrl: string; dlqUrl: string }> {
    this.queues.add(siteId);
    return { queueUrl: await this.queueUrl(siteId), dlqUrl: `memory://queues/gluon-jobs-${siteId}-dlq` };
  }

  async queueUrl(siteId: string): Promise<string> {
    return `memory://queues/gluon-jobs-${siteId}`;
  }

  async send(messages: JobMessage[]): Promise<void> {
    for (const message of messages) this.sent.push(JobMessageSchema.parse(message));
  }

  async depth(siteId: string): Promise<number> {
    return this.sent.filter((m) => m.siteId === siteId).length;
  }

  /** Forgets the messages sent so far. */
  clear(): void {
    this.sent.length = 0;
  }
}

const LIVE_PILOT_STATES: ReadonlySet<PilotState> = new Set(['starting', 'idle', 'busy', 'draining']);

export class InMemoryPilotStore implements PilotStore {
  private readonly pilots = new Map<string, Pilot>();

  async register(pilot: Pilot): Promise<void> {
    if (this.pilots.has(pilot.pilotId)) throw new ConflictError(`pilot ${pilot.pilotId} already registered`);
    this.pilots.set(pilot.pilotId, copy(pilot));
  }

  async get(pilotId: string): Promise<Pilot | undefined> {
    const pilot = this.pilots.get(pilotId);
    return pilot === undefined ? undefined : copy(pilot);
  }

  async list(page: PageRequest): Promise<Page<Pilot>> {
    const all = [...this.pilots.values()].sort((a, b) => a.pilotId.localeCompare(b.pilotId)).map(copy);
    return pageOf(all, page);
  }

  async heartbeat(
    pilotId: string,
    change: { state: PilotState; at: string; currentJobId?: string },
  ): Promise<void> {
    const pilot = this.existing(pilotId);
    pilot.state = change.state;
    pilot.lastHeartbeatAt = change.at;
    if (change.currentJobId === undefined) delete pilot.currentJobId;
    else pilot.currentJobId = change.currentJobId;
  }

  async countBySite(
    siteId: string,
  ): Promise<{ starting: number; idle: number; busy: number; draining: number }> {
    const counts = { starting: 0, idle: 0, busy: 0, draining: 0 };
    for (const pilot of this.pilots.values()) {
      if (pilot.siteId === siteId && pilot.state in counts) counts[pilot.state as keyof typeof counts] += 1;
    }
    return counts;
  }

  async jobEnded(pilotId: string, at: string): Promise<void> {
    const pilot = this.existing(pilotId);
    pilot.jobsRun += 1;
    pilot.state = 'idle';
    pilot.lastHeartbeatAt = at;
    delete pilot.currentJobId;
  }

  async markLost(before: string): Promise<string[]> {
    const lost: string[] = [];
    for (const pilot of this.pilots.values()) {
      if (LIVE_PILOT_STATES.has(pilot.state) && pilot.lastHeartbeatAt < before) {
        pilot.state = 'lost';
        lost.push(pilot.pilotId);
      }
    }
    return lost.sort();
  }

  private existing(pilotId: string): Pilot {
    const pilot = this.pilots.get(pilotId);
    if (pilot === undefined) throw new NotFoundError(`pilot ${pilotId} not found`);
    return pilot;
  }
}

export class InMemorySiteStore implements SiteStore {
  private readonly sites = new Map<string, Site>();

  async put(site: Site): Promise<void> {
    this.sites.set(site.siteId, copy(site));
  }

  async get(siteId: string): Promise<Site | undefined> {
    const site = this.sites.get(siteId);
    return site === undefined ? undefined : copy(site);
  }

  async list(): Promise<Site[]> {
    return [...this.sites.values()].sort((a, b) => a.siteId.localeCompare(b.siteId)).map(copy);
  }
}

/** Records workflow starts and wait releases; `startError` makes startTask throw it. */
export class RecordingWorkflowEngine implements WorkflowEngine {
  readonly started: string[] = [];
  readonly releases: Array<{ token: string; output: { taskId: string } }> = [];
  startError: Error | undefined;

  async startTask(taskId: string): Promise<void> {
    if (this.startError !== undefined) throw this.startError;
    if (!this.started.includes(taskId)) this.started.push(taskId);
  }

  async releaseWait(token: string, output: { taskId: string }): Promise<void> {
    this.releases.push({ token, output: copy(output) });
  }
}

export class InMemoryObjectStore implements ObjectStore {
  readonly bucket: string;
  readonly presigned: Array<{ key: string; expiresInSec: number }> = [];

  constructor(bucket = 'gluon-test') {
    this.bucket = bucket;
  }

  async presignPut(key: string, expiresInSec: number): Promise<string> {
    this.presigned.push({ key, expiresInSec });
    return `memory://${this.bucket}/${key}?expiresIn=${expiresInSec}`;
  }
}

export const DEFAULT_START = '2026-01-01T00:00:00.000Z';

/** A clock that only moves when told to. */
export class SettableClock implements Clock {
  private current: number;

  constructor(start: Date | string = DEFAULT_START) {
    this.current = new Date(start).getTime();
  }

  now(): Date {
    return new Date(this.current);
  }

  set(to: Date | string): void {
    this.current = new Date(to).getTime();
  }

  advance(ms: number): void {
    this.current += ms;
  }
}

/** `t-000001`, `t-000002`, … and `p-000001`, … (valid TaskIdSchema / PilotIdSchema ids). */
export class SequentialIds implements Ids {
  private tasks = 0;
  private pilots = 0;

  taskId(): string {
    this.tasks += 1;
    return `t-${String(this.tasks).padStart(6, '0')}`;
  }

  pilotId(): string {
    this.pilots += 1;
    return `p-${String(this.pilots).padStart(6, '0')}`;
  }
}

export const DEFAULT_SETTINGS: Settings = {
  leaseSec: 300,
  dispatchLeaseSec: 1800,
  heartbeatSec: 60,
  enqueuePageSize: 100,
  pilotLostSec: 900,
};

/** The in-memory deps with their concrete types, so tests reach the recording helpers. */
export interface InMemoryDeps extends Deps {
  tasks: InMemoryTaskStore;
  jobs: InMemoryJobStore;
  pilots: InMemoryPilotStore;
  sites: InMemorySiteStore;
  queue: InMemoryJobQueue;
  objects: InMemoryObjectStore;
  workflow: RecordingWorkflowEngine;
  credentials: FixedCredentialVendor;
  clock: SettableClock;
  ids: SequentialIds;
}

/** Vends the credentials it is given (or none), recording each request. */
export class FixedCredentialVendor implements CredentialVendor {
  credentials: PilotCredentials | undefined;
  readonly requests: Array<{ pilotId: string; siteId: string; queueUrl: string; bucket: string }> = [];

  constructor(credentials?: PilotCredentials) {
    this.credentials = credentials;
  }

  async vend(scope: {
    pilotId: string;
    siteId: string;
    queueUrl: string;
    bucket: string;
  }): Promise<PilotCredentials | undefined> {
    this.requests.push(scope);
    return this.credentials;
  }
}

export function inMemoryDeps(
  options: { settings?: Partial<Settings>; start?: Date | string } = {},
): InMemoryDeps {
  const tasks = new InMemoryTaskStore();
  return {
    tasks,
    jobs: new InMemoryJobStore(tasks),
    pilots: new InMemoryPilotStore(),
    sites: new InMemorySiteStore(),
    queue: new InMemoryJobQueue(),
    objects: new InMemoryObjectStore(),
    workflow: new RecordingWorkflowEngine(),
    credentials: new FixedCredentialVendor(),
    clock: new SettableClock(options.start),
    ids: new SequentialIds(),
    settings: { ...DEFAULT_SETTINGS, ...options.settings },
  };
}

/** A site with the schema's defaults filled (online, 1 core, 2000 MB, 24 h, 10 GB slots). */
export function siteOf(input: SiteInput): Site {
  return SiteSchema.parse(input);
}
