/**
 * In-memory implementations of every port, with the same semantics as the DynamoDB, SQS, S3, Step
 * Functions and STS adapters (the contract tests run one suite against both, so they cannot
 * drift). The job and event-range stores also keep the change feed of their records, as DynamoDB
 * Streams does; `settleJobChanges` hands the jobs' to the same consumer the stream function runs.
 */

import type { AccountingExports, AccountingStore } from '#core/accounting/ports.ts';
import {
  ACCOUNTING_BY,
  type AccountingBy,
  addToRollup,
  addUsd,
  emptyRollup,
  type RollupRow,
  rollupDeltaOf,
  rollupKeyOf,
  type TaskCost,
  type UsageRecord,
  usageKeyOf,
} from '#core/accounting/usage.ts';
import type { Page, PageRequest } from '#core/api/common.ts';
import type { MetricSeries } from '#core/api/metrics.ts';
import type { PilotCredentials } from '#core/api/pilots.ts';
import type { ResolvedInputs } from '#core/catalog/task-inputs.ts';
import type { Clock, Deps, Ids, Settings } from '#core/deps.ts';
import { ConflictError, NotFoundError, ValidationError } from '#core/errors.ts';
import {
  type RangeMessage,
  RangeMessageSchema,
  type RangeRecord,
  type RecordedRangeState,
} from '#core/event-ranges/event-range.ts';
import type {
  EventRangeStore,
  RangeExpectation,
  RangeQueue,
  RangeRecordChange,
  RangeWrite,
} from '#core/event-ranges/ports.ts';
import { addRangeCounters, emptyRangeCounters, type RangeCounters } from '#core/event-ranges/range-counts.ts';
import { type Attempt, type JobRecord, jobIdOf, type OutputFile } from '#core/jobs/job.ts';
import {
  addCounters,
  deriveJobCounts,
  emptyJobCounters,
  type JobCounters,
  type JobCounts,
} from '#core/jobs/job-counts.ts';
import { type JobMessage, JobMessageSchema, messageClass } from '#core/jobs/job-message.ts';
import type { JobChange, JobExpectation, JobQueue, JobRecordChange, JobStore } from '#core/jobs/ports.ts';
import { recordJobChanges } from '#core/jobs/record-job-changes.ts';
import { RESOURCE_CLASSES, type ResourceClass } from '#core/jobs/resource-class.ts';
import { sumPerMinute } from '#core/metrics/per-minute.ts';
import type { MetricSample, MetricsRange, MetricsReader } from '#core/metrics/ports.ts';
import { isLivePilotState, type LivePilotState, type Pilot, type PilotLease } from '#core/pilots/pilot.ts';
import type { CredentialVendor, PilotLeaseStore, PilotStore } from '#core/pilots/ports.ts';
import type { BrokerageDecision } from '#core/policies/brokerage-decision.ts';
import type {
  DispatchEntry,
  PolicyStore,
  RetryPolicyStore,
  RetryPolicyVersion,
  StoredShares,
} from '#core/policies/ports.ts';
import type { Decayed, ShareTree } from '#core/policies/shares.ts';
import type { ProvisioningDecision } from '#core/provisioning/provisioning-decision.ts';
import {
  isNoteworthyDecision,
  PROVISIONING_HISTORY_MAX,
  SITE_HISTORY_MAX,
  type SiteStore,
} from '#core/sites/ports.ts';
import {
  type PilotCensus,
  type Site,
  type SiteInput,
  type SiteRecord,
  SiteSchema,
  type SiteStatus,
  type StatusChange,
  type StatusExpectation,
  type TestTaskState,
} from '#core/sites/site.ts';
import {
  bookOutcomes,
  bookUnhealthyPilot,
  emptyOutcomeBook,
  type OutcomeBook,
  type OutcomeEntry,
  restartOutcomes,
  type SiteOutcomes,
} from '#core/sites/site-outcomes.ts';
import type { ObjectStore } from '#core/storage/ports.ts';
import type {
  AddInputs,
  CountEntry,
  CreateTaskOutcome,
  IdempotencyKeyHold,
  RangeCountEntry,
  TaskStore,
  WaitOutcome,
  WorkflowEngine,
} from '#core/tasks/ports.ts';
import type { TaskSizing } from '#core/tasks/scout-sizing.ts';
import {
  FINAL_TASK_STATES,
  isFinalTaskState,
  type ResubmitOrder,
  type Task,
  type TaskHead,
  type TaskState,
} from '#core/tasks/task.ts';
import { type TaskSpec, withResolvedInputs } from '#core/tasks/task-spec.ts';
import { TASK_TRANSITIONS, type TaskEvent } from '#core/tasks/transitions.ts';
import { InMemoryBucketReader, InMemoryCatalogStore } from './in-memory-catalog.ts';
import { InMemoryMetaTaskStore, RecordingMetaTaskWorkflow } from './in-memory-meta-tasks.ts';
import {
  DEFAULT_NOTIFICATION_SETTINGS,
  InMemoryWebhookStore,
  RecordingEventBus,
  ScriptedWebhookSender,
  SequentialWebhookIds,
} from './in-memory-notifications.ts';
import {
  InMemoryObjectCopier,
  InMemoryRuleStore,
  InMemoryTransferQueue,
  SequentialRuleIds,
  TEST_TRANSFER_SETTINGS,
} from './in-memory-transfers.ts';

function copy<T>(value: T): T {
  return structuredClone(value);
}

function invalidPageToken(message: string): ValidationError {
  return new ValidationError('invalid page token', [{ field: 'nextToken', message }]);
}

/** The index a page token of `listing` points at; refused as the adapters refuse theirs. */
function decodePageToken(token: string, listing: string): number {
  if (!/^[A-Za-z0-9_-]+$/.test(token)) throw invalidPageToken('not a token from a previous page');
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw invalidPageToken('not a token from a previous page');
  }
  const { listing: of, index } = (typeof value === 'object' && value !== null ? value : {}) as {
    listing?: unknown;
    index?: unknown;
  };
  if (of !== listing || typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0) {
    throw invalidPageToken('not a token for this listing');
  }
  return index;
}

/**
 * A page of `items` after the token. As DynamoDB's (a Query or Scan with a Limit), a full page
 * carries a token even when nothing follows, and the page after it is empty; a token belongs to
 * its `listing` (e.g. one owner's tasks).
 */
function pageOf<T>(items: T[], page: PageRequest, listing: string): Page<T> {
  const start = page.nextToken === undefined ? 0 : decodePageToken(page.nextToken, listing);
  const slice = items.slice(start, start + page.limit);
  if (slice.length < page.limit) return { items: slice };
  const nextToken = Buffer.from(JSON.stringify({ listing, index: start + page.limit })).toString('base64url');
  return { items: slice, nextToken };
}

/** Counters of one feed, with the last sequence number applied. */
interface FeedCounters<C> {
  counters: C;
  lastSeq: bigint;
}

interface StoredTask {
  head: TaskHead & { waitToken?: string };
  spec: TaskSpec;
  /** Job counters per feed. */
  counters: Map<string, FeedCounters<JobCounters>>;
  /** Range counters per feed, kept apart as the adapter keeps them. */
  rangeCounters: Map<string, FeedCounters<RangeCounters>>;
  brokerage?: BrokerageDecision;
  /** A dataset task's resolved inputs, kept beside the spec as the adapter keeps them. */
  inputs?: ResolvedInputs;
}

/** Applies the entries of `feed` newer than its last applied sequence number, in order. */
function addOnce<C, D>(
  byFeed: Map<string, FeedCounters<C>>,
  feed: string,
  entries: Array<{ seq: string; delta: D }>,
  empty: () => C,
  add: (into: C, delta: D) => C,
): void {
  let item = byFeed.get(feed);
  if (item === undefined) {
    item = { counters: empty(), lastSeq: -1n };
    byFeed.set(feed, item);
  }
  for (const entry of [...entries].sort((a, b) => (BigInt(a.seq) < BigInt(b.seq) ? -1 : 1))) {
    const seq = BigInt(entry.seq);
    if (seq <= item.lastSeq) continue;
    add(item.counters, entry.delta);
    item.lastSeq = seq;
  }
}

export class InMemoryTaskStore implements TaskStore {
  private readonly tasks = new Map<string, StoredTask>();
  /** `<owner>#<key>` → the task it made, until when (ISO times compare as strings). */
  private readonly idempotencyKeys = new Map<string, { taskId: string; expiresAt: string }>();

  async create(task: Task, idempotency?: IdempotencyKeyHold): Promise<CreateTaskOutcome> {
    if (this.tasks.has(task.taskId)) throw new ConflictError(`task ${task.taskId} already exists`);
    if (idempotency !== undefined) {
      const held = this.idempotencyKeys.get(`${task.owner}#${idempotency.key}`);
      if (held !== undefined && held.expiresAt > idempotency.now)
        return { created: false, taskId: held.taskId };
      this.idempotencyKeys.set(`${task.owner}#${idempotency.key}`, {
        taskId: task.taskId,
        expiresAt: idempotency.expiresAt,
      });
    }
    const { spec, counts: _counts, rangeCounters: _rangeCounters, ...head } = copy(task);
    this.tasks.set(task.taskId, { head, spec, counters: new Map(), rangeCounters: new Map() });
    return { created: true };
  }

  async releaseIdempotencyKey(owner: string, key: string, taskId: string): Promise<void> {
    if (this.idempotencyKeys.get(`${owner}#${key}`)?.taskId === taskId)
      this.idempotencyKeys.delete(`${owner}#${key}`);
  }

  async get(taskId: string): Promise<Task | undefined> {
    const stored = this.tasks.get(taskId);
    if (stored === undefined) return undefined;
    const { waitToken: _token, ...head } = copy(stored.head);
    return {
      ...head,
      spec: withResolvedInputs(
        copy(stored.spec),
        stored.inputs === undefined ? undefined : copy(stored.inputs),
      ),
      counts: this.counts(stored),
      rangeCounters: this.rangeCounters(stored),
    };
  }

  async getHead(taskId: string): Promise<TaskHead | undefined> {
    const stored = this.tasks.get(taskId);
    if (stored === undefined) return undefined;
    const { waitToken: _token, ...head } = copy(stored.head);
    return head;
  }

  async getSpec(taskId: string): Promise<TaskSpec | undefined> {
    const stored = this.tasks.get(taskId);
    if (stored === undefined) return undefined;
    return withResolvedInputs(
      copy(stored.spec),
      stored.inputs === undefined ? undefined : copy(stored.inputs),
    );
  }

  async addInputs(taskId: string, change: AddInputs): Promise<boolean> {
    const stored = this.tasks.get(taskId);
    if (stored === undefined || isFinalTaskState(stored.head.state)) return false;
    if ((stored.head.inputFiles ?? 0) !== change.from || stored.head.inputsClosed === true) return false;
    if (change.from === 0 && stored.head.inputFiles !== undefined) return false;
    const inputs = stored.inputs ?? { files: [], endpoints: {}, closed: false };
    inputs.files.push(...copy(change.files));
    inputs.endpoints = { ...inputs.endpoints, ...copy(change.endpoints) };
    inputs.closed = change.closed;
    stored.inputs = inputs;
    stored.head.inputFiles = change.from + change.files.length;
    stored.head.inputsClosed = change.closed;
    stored.head.jobCount = change.jobCount;
    if (change.cursor !== undefined) stored.head.inputsCursor = change.cursor;
    stored.head.updatedAt = change.at;
    return true;
  }

  async getProgress(
    taskId: string,
  ): Promise<
    (TaskHead & { counts: JobCounts; rangeCounters: RangeCounters; waitToken?: string }) | undefined
  > {
    const stored = this.tasks.get(taskId);
    if (stored === undefined) return undefined;
    return { ...copy(stored.head), counts: this.counts(stored), rangeCounters: this.rangeCounters(stored) };
  }

  async listByOwner(
    owner: string,
    page: PageRequest,
  ): Promise<Page<TaskHead & { counts: JobCounts; rangeCounters: RangeCounters }>> {
    const mine = [...this.tasks.values()]
      .filter((t) => t.head.owner === owner)
      .sort(
        (a, b) =>
          b.head.createdAt.localeCompare(a.head.createdAt) || b.head.taskId.localeCompare(a.head.taskId),
      )
      .map((t) => {
        const { waitToken: _token, ...head } = copy(t.head);
        return { ...head, counts: this.counts(t), rangeCounters: this.rangeCounters(t) };
      });
    return pageOf(mine, page, `tasks of ${owner}`);
  }

  async transition(
    taskId: string,
    event: TaskEvent,
    change: {
      at: string;
      reason?: string;
      siteIds?: string[];
      siteShares?: number[];
      outputs?: OutputFile[];
    },
  ): Promise<boolean> {
    const stored = this.tasks.get(taskId);
    const { from, to } = TASK_TRANSITIONS[event];
    if (stored === undefined || !(from as readonly TaskState[]).includes(stored.head.state)) return false;
    const head = stored.head;
    head.state = to;
    head.updatedAt = change.at;
    head.history.push({
      state: to,
      at: change.at,
      ...(change.reason === undefined ? {} : { reason: change.reason }),
    });
    if (change.reason !== undefined) head.reason = change.reason;
    if (change.siteIds !== undefined) head.siteIds = [...change.siteIds];
    if (change.siteShares !== undefined) head.siteShares = [...change.siteShares];
    if (change.outputs !== undefined) head.outputs = copy(change.outputs);
    if (isFinalTaskState(to)) head.endedAt = change.at;
    return true;
  }

  async recordBrokerage(taskId: string, decision: BrokerageDecision): Promise<boolean> {
    const stored = this.tasks.get(taskId);
    if (stored === undefined || stored.head.state !== 'submitted') return false;
    stored.brokerage = copy(decision);
    return true;
  }

  async getBrokerage(taskId: string): Promise<BrokerageDecision | undefined> {
    const brokerage = this.tasks.get(taskId)?.brokerage;
    return brokerage === undefined ? undefined : copy(brokerage);
  }

  async recordEnqueued(taskId: string, jobsEnqueued: number, at: string): Promise<void> {
    const stored = this.tasks.get(taskId);
    if (stored === undefined || stored.head.jobsEnqueued >= jobsEnqueued) return;
    stored.head.jobsEnqueued = jobsEnqueued;
    stored.head.updatedAt = at;
  }

  async recordRangesEnqueued(taskId: string, rangesEnqueued: number, at: string): Promise<void> {
    const stored = this.tasks.get(taskId);
    if (stored === undefined || (stored.head.rangesEnqueued ?? -1) >= rangesEnqueued) return;
    stored.head.rangesEnqueued = rangesEnqueued;
    stored.head.updatedAt = at;
  }

  async startMerge(
    taskId: string,
    change: { consumers: number; mergeJobs: number; at: string },
  ): Promise<boolean> {
    const stored = this.tasks.get(taskId);
    if (stored === undefined || stored.head.mergeJobs !== undefined) return false;
    if (stored.head.jobCount !== change.consumers) return false;
    stored.head.mergeJobs = change.mergeJobs;
    stored.head.jobCount = change.consumers + change.mergeJobs;
    stored.head.updatedAt = change.at;
    return true;
  }

  async recordSizing(taskId: string, change: { scouts: number; sizing: TaskSizing }): Promise<boolean> {
    const stored = this.tasks.get(taskId);
    if (stored === undefined || stored.head.sizing !== undefined) return false;
    if (stored.head.jobCount !== change.scouts || stored.head.state !== 'running') return false;
    stored.head.sizing = copy(change.sizing);
    stored.head.jobCount = change.scouts + change.sizing.jobs;
    stored.head.updatedAt = change.sizing.at;
    return true;
  }

  async requestCancel(taskId: string, at: string): Promise<TaskState | undefined> {
    const stored = this.tasks.get(taskId);
    if (stored === undefined) return undefined;
    if (FINAL_TASK_STATES.has(stored.head.state)) return stored.head.state;
    stored.head.cancelRequested = true;
    stored.head.updatedAt = at;
    return stored.head.state;
  }

  async steer(
    taskId: string,
    change: { paused?: boolean; resumePending?: boolean; priority?: number; at: string },
  ): Promise<TaskState | undefined> {
    const stored = this.tasks.get(taskId);
    if (stored === undefined) return undefined;
    if (FINAL_TASK_STATES.has(stored.head.state)) return stored.head.state;
    if (change.paused !== undefined) stored.head.paused = change.paused;
    if (change.resumePending !== undefined) stored.head.resumePending = change.resumePending;
    if (change.priority !== undefined) stored.head.priority = change.priority;
    stored.head.updatedAt = change.at;
    return stored.head.state;
  }

  async markCancelSwept(taskId: string, at: string): Promise<void> {
    const stored = this.tasks.get(taskId);
    if (stored === undefined) return;
    stored.head.cancelSwept = true;
    stored.head.updatedAt = at;
  }

  async resubmit(
    taskId: string,
    order: ResubmitOrder,
    change: { from: TaskState; reason: string },
  ): Promise<boolean> {
    const stored = this.tasks.get(taskId);
    if (stored === undefined) return false;
    const head = stored.head;
    const reopen = TASK_TRANSITIONS.reopen;
    const allowed = order.reopened
      ? (reopen.from as readonly TaskState[]).includes(change.from)
      : change.from === 'running';
    if (
      !allowed ||
      head.state !== change.from ||
      head.cancelRequested ||
      head.resubmitOrder !== undefined ||
      order.order !== (head.resubmitOrders ?? 0) + 1
    ) {
      return false;
    }
    head.resubmitOrder = copy(order);
    head.resubmitOrders = order.order;
    head.updatedAt = order.at;
    if (order.reopened) {
      head.state = reopen.to;
      head.history.push({ state: reopen.to, at: order.at, reason: change.reason });
      delete head.endedAt;
      delete head.reason;
      delete head.outputs;
      delete head.waitToken;
      delete head.paused;
      delete head.resumePending;
    }
    return true;
  }

  async endResubmit(taskId: string, change: { order: number; jobs: number; at: string }): Promise<boolean> {
    const stored = this.tasks.get(taskId);
    if (stored === undefined || stored.head.resubmitOrder?.order !== change.order) return false;
    delete stored.head.resubmitOrder;
    stored.head.jobsResubmitted = (stored.head.jobsResubmitted ?? 0) + change.jobs;
    stored.head.updatedAt = change.at;
    return true;
  }

  async storeWaitToken(taskId: string, token: string): Promise<void> {
    const stored = this.tasks.get(taskId);
    if (stored !== undefined) stored.head.waitToken = token;
  }

  async addJobCounts(taskId: string, feed: string, entries: CountEntry[]): Promise<void> {
    const stored = this.tasks.get(taskId);
    if (stored !== undefined) addOnce(stored.counters, feed, entries, emptyJobCounters, addCounters);
  }

  async addRangeCounts(taskId: string, feed: string, entries: RangeCountEntry[]): Promise<void> {
    const stored = this.tasks.get(taskId);
    if (stored !== undefined)
      addOnce(stored.rangeCounters, feed, entries, emptyRangeCounters, addRangeCounters);
  }

  private counts(stored: StoredTask): JobCounts {
    const total = emptyJobCounters();
    for (const { counters } of stored.counters.values()) addCounters(total, counters);
    return deriveJobCounts(stored.head, total);
  }

  private rangeCounters(stored: StoredTask): RangeCounters {
    const total = emptyRangeCounters();
    for (const { counters } of stored.rangeCounters.values()) addRangeCounters(total, counters);
    return total;
  }
}

function matches(record: JobRecord | undefined, expected: JobExpectation): boolean {
  if (expected === 'absent') return record === undefined;
  if (record === undefined) return false;
  return (
    record.state === expected.state &&
    record.attempt === expected.attempt &&
    (expected.pilotId === undefined || record.pilotId === expected.pilotId) &&
    (expected.siteId === undefined || record.siteId === expected.siteId)
  );
}

/** Job records, written only by fenced updates, with their change feed (feed `memory`). */
export class InMemoryJobStore implements JobStore {
  private readonly records = new Map<string, Map<number, JobRecord>>();
  private readonly archive = new Map<string, Map<number, Attempt>>();
  private readonly feed: JobRecordChange[] = [];
  private seq = 0n;
  /** Writes refused (conflicts), for tests that look at fencing. */
  conflicts = 0;

  async get(taskId: string, jobIndex: number): Promise<JobRecord | undefined> {
    const record = this.records.get(taskId)?.get(jobIndex);
    return record === undefined ? undefined : copy(record);
  }

  async list(
    taskId: string,
    fromIndex: number,
    limit: number,
  ): Promise<{ records: JobRecord[]; more: boolean }> {
    const all = [...(this.records.get(taskId)?.values() ?? [])]
      .filter((r) => r.jobIndex >= fromIndex)
      .sort((a, b) => a.jobIndex - b.jobIndex);
    // As a DynamoDB Query with a Limit: a listing that reaches the limit says `more`, even when
    // nothing follows (the next listing is then empty).
    return { records: all.slice(0, limit).map(copy), more: all.length >= limit };
  }

  async update(
    key: { taskId: string; jobIndex: number },
    change: JobChange,
    expected: JobExpectation[],
  ): Promise<'ok' | 'conflict'> {
    let byIndex = this.records.get(key.taskId);
    const before = byIndex?.get(key.jobIndex);
    if (!expected.some((e) => matches(before, e))) {
      this.conflicts++;
      return 'conflict';
    }
    const after = { ...(before === undefined ? key : copy(before)) } as Record<string, unknown>;
    for (const field of change.remove ?? []) if (!(field in change.set)) delete after[field];
    for (const [field, value] of Object.entries(change.set))
      if (value !== undefined) after[field] = copy(value);
    if (byIndex === undefined) {
      byIndex = new Map();
      this.records.set(key.taskId, byIndex);
    }
    byIndex.set(key.jobIndex, after as unknown as JobRecord);
    this.seq += 1n;
    this.feed.push({
      feed: 'memory',
      seq: String(this.seq),
      ...(before === undefined ? {} : { before: copy(before) }),
      after: copy(after) as unknown as JobRecord,
    });
    return 'ok';
  }

  async archiveAttempts(
    attempts: Array<{ taskId: string; jobIndex: number; attempt: Attempt }>,
  ): Promise<void> {
    for (const { taskId, jobIndex, attempt } of attempts) {
      const id = jobIdOf(taskId, jobIndex);
      let byAttempt = this.archive.get(id);
      if (byAttempt === undefined) {
        byAttempt = new Map();
        this.archive.set(id, byAttempt);
      }
      byAttempt.set(attempt.attempt, copy(attempt));
    }
  }

  async attempts(taskId: string, jobIndex: number): Promise<Attempt[]> {
    return [...(this.archive.get(jobIdOf(taskId, jobIndex))?.values() ?? [])]
      .sort((a, b) => a.attempt - b.attempt)
      .map(copy);
  }

  /** The changes of records since the last call (the change feed), oldest first. */
  takeChanges(): JobRecordChange[] {
    return this.feed.splice(0, this.feed.length);
  }
}

function rangeMatches(record: RangeRecord | undefined, expected: RangeExpectation): boolean {
  if (expected === 'absent') return record === undefined;
  return record !== undefined && record.state === expected.state && record.attempt <= expected.attemptAtMost;
}

/**
 * Event-range records, written whole by conditional writes, with their change feed (feed
 * `memory`). As the adapter runs a call's writes at once, a call should not write one range twice.
 */
export class InMemoryEventRangeStore implements EventRangeStore {
  private readonly records = new Map<string, Map<number, RangeRecord>>();
  private readonly feed: RangeRecordChange[] = [];
  private seq = 0n;
  /** Writes refused (conflicts), for tests that look at fencing. */
  conflicts = 0;

  async write(writes: RangeWrite[]): Promise<Array<'ok' | 'conflict'>> {
    return writes.map(({ record, expected }) => {
      let byIndex = this.records.get(record.taskId);
      const before = byIndex?.get(record.rangeIndex);
      if (!expected.some((e) => rangeMatches(before, e))) {
        this.conflicts++;
        return 'conflict';
      }
      if (byIndex === undefined) {
        byIndex = new Map();
        this.records.set(record.taskId, byIndex);
      }
      byIndex.set(record.rangeIndex, copy(record));
      this.seq += 1n;
      this.feed.push({
        feed: 'memory',
        seq: String(this.seq),
        ...(before === undefined ? {} : { before: copy(before) }),
        after: copy(record),
      });
      return 'ok';
    });
  }

  async getMany(taskId: string, rangeIndexes: number[]): Promise<RangeRecord[]> {
    const byIndex = this.records.get(taskId);
    return [...new Set(rangeIndexes)]
      .map((i) => byIndex?.get(i))
      .filter((r): r is RangeRecord => r !== undefined)
      .sort((a, b) => a.rangeIndex - b.rangeIndex)
      .map(copy);
  }

  async list(
    taskId: string,
    fromIndex: number,
    limit: number,
    state?: RecordedRangeState,
  ): Promise<{ records: RangeRecord[]; next?: number }> {
    const all = [...(this.records.get(taskId)?.values() ?? [])]
      .filter((r) => r.rangeIndex >= fromIndex && (state === undefined || r.state === state))
      .sort((a, b) => a.rangeIndex - b.rangeIndex);
    const records = all.slice(0, limit).map(copy);
    // As the adapter, which reads one record past the limit: `next` only when more follow.
    if (all.length <= limit) return { records };
    return { records, next: (records.at(-1) as RangeRecord).rangeIndex + 1 };
  }

  /** The changes of records since the last call (the change feed), oldest first. */
  takeChanges(): RangeRecordChange[] {
    return this.feed.splice(0, this.feed.length);
  }
}

/** Records every message sent (validated as the real queue's consumers would), by site. */
export class InMemoryJobQueue implements JobQueue {
  readonly sent: JobMessage[] = [];
  /** Messages sent with a delay, and the delay (they are in `sent` too). */
  readonly delayed: Array<{ message: JobMessage; delaySec: number }> = [];
  readonly queues = new Set<string>();
  /** Dead letters per site (tests put messages here to see them redriven). */
  readonly deadLetters = new Map<string, string[]>();

  async ensureSiteQueue(siteId: string): Promise<{ queueUrl: string; dlqUrl: string }> {
    this.queues.add(siteId);
    return { queueUrl: await this.queueUrl(siteId), dlqUrl: `memory://queues/gluon-jobs-${siteId}-dlq` };
  }

  async queueUrl(siteId: string, resourceClass: ResourceClass = 'score'): Promise<string> {
    return `memory://queues/gluon-jobs-${siteId}${resourceClass === 'score' ? '' : `_${resourceClass}`}`;
  }

  async send(messages: JobMessage[], options: { delaySec?: number } = {}): Promise<void> {
    for (const message of messages) {
      const parsed = JobMessageSchema.parse(message);
      this.sent.push(parsed);
      if (options.delaySec !== undefined) this.delayed.push({ message: parsed, delaySec: options.delaySec });
    }
  }

  /** Messages pilots received (indexes into `sent`): they no longer count in a queue's depth. */
  readonly received = new Set<number>();

  /** The next message of a site's queue, first in first out, as a pilot receives it. */
  receive(siteId: string): JobMessage | undefined {
    const index = this.sent.findIndex((m, i) => m.siteId === siteId && !this.received.has(i));
    if (index < 0) return undefined;
    this.received.add(index);
    return this.sent[index];
  }

  async depth(siteId: string, classes: readonly ResourceClass[] = RESOURCE_CLASSES): Promise<number> {
    return this.sent.filter(
      (m, i) => m.siteId === siteId && !this.received.has(i) && classes.includes(messageClass(m)),
    ).length;
  }

  async redriveDeadLetters(
    siteId: string,
    options: { max: number; delaySec: number },
  ): Promise<{ redriven: number }> {
    const dead = this.deadLetters.get(siteId) ?? [];
    const keep: string[] = [];
    let redriven = 0;
    for (const body of dead) {
      if (redriven >= options.max) {
        keep.push(body);
        continue;
      }
      const parsed = JobMessageSchema.safeParse(safeJson(body));
      if (!parsed.success) {
        keep.push(body);
        continue;
      }
      this.sent.push(parsed.data);
      redriven++;
    }
    this.deadLetters.set(siteId, keep);
    return { redriven };
  }

  /** Forgets the messages sent so far. */
  clear(): void {
    this.sent.length = 0;
  }
}

/**
 * Range queues per task, as SqsRangeQueue keeps them: messages validated as consumers parse them,
 * dead letters apart, a task without its queue refused with NotFoundError.
 */
export class InMemoryRangeQueue implements RangeQueue {
  /** Each task's queue, with the visibility timeout (the range lease) it was made with. */
  readonly queues = new Map<string, { visibilitySec: number }>();
  readonly sent = new Map<string, RangeMessage[]>();
  readonly deadLetters = new Map<string, RangeMessage[]>();

  async ensureTaskQueue(
    taskId: string,
    options: { visibilitySec: number },
  ): Promise<{ queueUrl: string; dlqUrl: string }> {
    // An existing queue is kept as it is.
    if (!this.queues.has(taskId)) this.queues.set(taskId, { visibilitySec: options.visibilitySec });
    const queueUrl = await this.queueUrl(taskId);
    return { queueUrl, dlqUrl: `${queueUrl}-dlq` };
  }

  async queueUrl(taskId: string): Promise<string> {
    if (!this.queues.has(taskId)) throw new NotFoundError(`no range queue for task ${taskId}`);
    return `memory://queues/gluon-ranges-${taskId}`;
  }

  async send(taskId: string, messages: RangeMessage[]): Promise<void> {
    await this.put(this.sent, taskId, messages);
  }

  async sendDeadLetters(taskId: string, messages: RangeMessage[]): Promise<void> {
    await this.put(this.deadLetters, taskId, messages);
  }

  async deleteTaskQueues(taskId: string): Promise<void> {
    this.queues.delete(taskId);
    this.sent.delete(taskId);
    this.deadLetters.delete(taskId);
  }

  private async put(
    into: Map<string, RangeMessage[]>,
    taskId: string,
    messages: RangeMessage[],
  ): Promise<void> {
    if (messages.length === 0) return;
    await this.queueUrl(taskId);
    const list = into.get(taskId) ?? [];
    for (const message of messages) list.push(RangeMessageSchema.parse(message));
    into.set(taskId, list);
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export class InMemoryPilotStore implements PilotStore {
  private readonly pilots = new Map<string, Pilot>();

  async register(pilot: Pilot): Promise<'registered' | 'exists'> {
    if (this.pilots.has(pilot.pilotId)) return 'exists';
    this.pilots.set(pilot.pilotId, copy(pilot));
    return 'registered';
  }

  async get(pilotId: string): Promise<Pilot | undefined> {
    const pilot = this.pilots.get(pilotId);
    return pilot === undefined ? undefined : copy(pilot);
  }

  async list(page: PageRequest): Promise<Page<Pilot>> {
    return pageOf(
      [...this.pilots.values()].sort((a, b) => a.pilotId.localeCompare(b.pilotId)).map(copy),
      page,
      'pilots',
    );
  }

  async end(
    pilotId: string,
    change: { state: 'exited' | 'lost'; at: string; jobsRun?: number },
  ): Promise<void> {
    const pilot = this.pilots.get(pilotId);
    if (pilot === undefined || pilot.endedAt !== undefined) return;
    pilot.state = change.state;
    pilot.endedAt = change.at;
    if (change.jobsRun !== undefined) pilot.jobsRun = change.jobsRun;
  }
}

export class InMemoryPilotLeaseStore implements PilotLeaseStore {
  readonly tableName: string;
  private readonly leases = new Map<string, PilotLease>();
  /** Renewals and holds written, for tests that count writes. */
  writes = 0;

  constructor(tableName = 'leases') {
    this.tableName = tableName;
  }

  async create(lease: PilotLease): Promise<void> {
    if (this.leases.has(lease.pilotId)) return;
    this.writes++;
    this.leases.set(lease.pilotId, copy({ ...lease, kill: [] }));
  }

  async get(pilotId: string): Promise<PilotLease | undefined> {
    const lease = this.leases.get(pilotId);
    return lease === undefined ? undefined : copy(lease);
  }

  async hold(
    pilotId: string,
    change: {
      jobs: string[];
      state: LivePilotState;
      expiresAt: number;
      siteId?: string;
      dropKills?: string[];
    },
  ): Promise<PilotLease | undefined> {
    const lease = this.live(pilotId);
    if (lease === undefined || (change.siteId !== undefined && lease.siteId !== change.siteId))
      return undefined;
    this.writes++;
    lease.jobs = [...change.jobs];
    // A drain is never undone: only the pilot's own renewal moves a draining lease on.
    if (lease.state !== 'draining') lease.state = change.state;
    lease.expiresAt = change.expiresAt;
    const drop = new Set(change.dropKills ?? []);
    lease.kill = lease.kill.filter((entry) => !drop.has(entry));
    return copy(lease);
  }

  async renew(
    pilotId: string,
    change: { state: LivePilotState | 'exited'; expiresAt: number; beatAt: string; jobsRun: number },
  ): Promise<PilotLease | undefined> {
    const lease = this.live(pilotId);
    if (lease === undefined) return undefined;
    this.writes++;
    lease.state = change.state;
    lease.expiresAt = change.expiresAt;
    lease.beatAt = change.beatAt;
    lease.jobsRun = change.jobsRun;
    return copy(lease);
  }

  async addKills(pilotId: string, entries: string[]): Promise<void> {
    const lease = this.live(pilotId);
    if (lease === undefined) return;
    this.writes++;
    lease.kill = [...new Set([...lease.kill, ...entries])];
  }

  async markLost(pilotId: string, now: number): Promise<PilotLease | undefined> {
    const lease = this.live(pilotId);
    if (lease === undefined || lease.expiresAt >= now) return undefined;
    this.writes++;
    lease.state = 'lost';
    return copy(lease);
  }

  async remove(pilotId: string): Promise<void> {
    this.leases.delete(pilotId);
  }

  async scan(cursor?: string): Promise<{ leases: PilotLease[]; cursor?: string }> {
    const all = [...this.leases.values()].sort((a, b) => a.pilotId.localeCompare(b.pilotId)).map(copy);
    const page = pageOf(
      all,
      { limit: 1000, ...(cursor === undefined ? {} : { nextToken: cursor }) },
      'pilot leases',
    );
    return { leases: page.items, ...(page.nextToken === undefined ? {} : { cursor: page.nextToken }) };
  }

  private live(pilotId: string): PilotLease | undefined {
    const lease = this.leases.get(pilotId);
    return lease !== undefined && isLivePilotState(lease.state) ? lease : undefined;
  }
}

export class InMemorySiteStore implements SiteStore {
  private readonly sites = new Map<string, SiteRecord>();
  private readonly histories = new Map<string, StatusChange[]>();
  private readonly books = new Map<string, OutcomeBook>();
  private readonly provisioning = new Map<string, ProvisioningDecision[]>();

  async put(
    site: Site,
    options?: { expected: StatusExpectation; change?: StatusChange },
  ): Promise<'ok' | 'conflict'> {
    const stored = this.sites.get(site.siteId);
    if (options !== undefined && !isAsExpected(stored, options.expected)) return 'conflict';
    const { census, statusChange, statusVersion, testTask, provisioned } = stored ?? {};
    const kept = { census, statusChange, statusVersion, testTask, provisioned };
    const record: SiteRecord = { ...copy(site) };
    for (const [key, value] of Object.entries(kept)) {
      if (value !== undefined) Object.assign(record, { [key]: copy(value) });
    }
    this.sites.set(site.siteId, record);
    if (options?.change !== undefined) this.recordChange(record, options.change, undefined);
    return 'ok';
  }

  async get(siteId: string): Promise<SiteRecord | undefined> {
    const site = this.sites.get(siteId);
    return site === undefined ? undefined : copy(site);
  }

  async list(): Promise<SiteRecord[]> {
    return [...this.sites.values()].sort((a, b) => a.siteId.localeCompare(b.siteId)).map(copy);
  }

  async recordCensus(siteId: string, pilots: PilotCensus, at: string): Promise<void> {
    const site = this.sites.get(siteId);
    if (site !== undefined) site.census = { pilots: copy(pilots), at };
  }

  async recordProvisioning(siteId: string, decision: ProvisioningDecision): Promise<void> {
    const site = this.sites.get(siteId);
    if (site === undefined) return;
    if (isNoteworthyDecision(decision, site.provisioned)) {
      const history = [...(this.provisioning.get(siteId) ?? []), copy(decision)];
      this.provisioning.set(siteId, history.slice(-PROVISIONING_HISTORY_MAX));
    }
    site.provisioned = copy(decision);
  }

  async provisioningHistory(siteId: string): Promise<ProvisioningDecision[]> {
    return copy(this.provisioning.get(siteId) ?? []);
  }

  async changeStatus(
    siteId: string,
    expected: { status: SiteStatus; version: number },
    change: StatusChange,
    testTask?: TestTaskState,
  ): Promise<'ok' | 'conflict'> {
    const site = this.sites.get(siteId);
    if (site === undefined || !isAsExpected(site, expected)) return 'conflict';
    this.recordChange(site, change, testTask);
    return 'ok';
  }

  async setTestTask(
    siteId: string,
    expected: { version: number; testTask: TestTaskState | undefined },
    testTask: TestTaskState,
  ): Promise<'ok' | 'conflict'> {
    const site = this.sites.get(siteId);
    if (
      site === undefined ||
      (site.statusVersion ?? 0) !== expected.version ||
      !sameTestTask(site.testTask, expected.testTask)
    ) {
      return 'conflict';
    }
    site.testTask = copy(testTask);
    return 'ok';
  }

  async history(siteId: string): Promise<StatusChange[]> {
    return copy(this.histories.get(siteId) ?? []);
  }

  async addOutcomes(
    siteId: string,
    feed: string,
    entries: OutcomeEntry[],
    options: { at: string; keepFrom: string },
  ): Promise<void> {
    const next = bookOutcomes(this.bookOf(siteId), feed, entries, options);
    if (next !== undefined) this.books.set(siteId, next);
  }

  async addUnhealthyPilot(
    siteId: string,
    pilotId: string,
    entry: { at: string; bucket: string },
    options: { keepFrom: string },
  ): Promise<void> {
    const next = bookUnhealthyPilot(this.bookOf(siteId), pilotId, entry, options);
    if (next !== undefined) this.books.set(siteId, next);
  }

  async outcomes(siteId: string): Promise<SiteOutcomes> {
    const { since, buckets } = this.bookOf(siteId);
    return { ...(since === undefined ? {} : { since }), buckets };
  }

  private bookOf(siteId: string): OutcomeBook {
    return copy(this.books.get(siteId) ?? emptyOutcomeBook());
  }

  private recordChange(site: SiteRecord, change: StatusChange, testTask: TestTaskState | undefined): void {
    site.status = change.to;
    site.statusChange = copy(change);
    site.statusVersion = (site.statusVersion ?? 0) + 1;
    if (testTask === undefined) delete site.testTask;
    else site.testTask = copy(testTask);
    const history = [...(this.histories.get(site.siteId) ?? []), copy(change)];
    this.histories.set(site.siteId, history.slice(-SITE_HISTORY_MAX));
    this.books.set(site.siteId, restartOutcomes(this.bookOf(site.siteId), change.at));
  }
}

function isAsExpected(site: SiteRecord | undefined, expected: StatusExpectation): boolean {
  if (expected === 'absent') return site === undefined;
  return (
    site !== undefined && site.status === expected.status && (site.statusVersion ?? 0) === expected.version
  );
}

function sameTestTask(a: TestTaskState | undefined, b: TestTaskState | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.taskId === b.taskId && a.failures === b.failures && a.failedAt === b.failedAt;
}

/** The policies table in memory: tasks in dispatch, share tree versions, usage. */
export class InMemoryPolicyStore implements PolicyStore {
  private readonly active = new Map<string, DispatchEntry>();
  private readonly versions: StoredShares[] = [];
  private readonly usageValues = new Map<string, Decayed>();

  async activate(entry: DispatchEntry): Promise<void> {
    if (!this.active.has(entry.taskId)) this.active.set(entry.taskId, copy(entry));
  }

  async listActive(): Promise<DispatchEntry[]> {
    return [...this.active.values()].sort((a, b) => a.taskId.localeCompare(b.taskId)).map(copy);
  }

  async advance(taskId: string, from: number, to: number): Promise<'ok' | 'conflict'> {
    const entry = this.active.get(taskId);
    if (entry === undefined || entry.released !== from) return 'conflict';
    entry.released = to;
    return 'ok';
  }

  async steerActive(taskId: string, change: { paused?: boolean; priority?: number }): Promise<void> {
    const entry = this.active.get(taskId);
    if (entry === undefined) return;
    if (change.paused !== undefined) entry.paused = change.paused;
    if (change.priority !== undefined) entry.priority = change.priority;
  }

  async extendActive(taskId: string, change: { jobCount: number; memoryMB: number }): Promise<void> {
    const entry = this.active.get(taskId);
    if (entry === undefined || entry.jobCount >= change.jobCount) return;
    entry.jobCount = change.jobCount;
    entry.memoryMB = change.memoryMB;
  }

  /** The dispatch lock (absent: free). */
  lock: { holder: string; expiresAt: number; again?: boolean } | undefined;

  async acquireDispatch(holder: string, now: number, expiresAt: number): Promise<'acquired' | 'busy'> {
    if (this.lock === undefined || this.lock.expiresAt < now) {
      this.lock = { holder, expiresAt };
      return 'acquired';
    }
    this.lock.again = true;
    return 'busy';
  }

  async releaseDispatch(holder: string, expiresAt: number): Promise<'released' | 'again'> {
    if (this.lock?.holder !== holder) return 'released';
    if (this.lock.again !== true) {
      this.lock = undefined;
      return 'released';
    }
    this.lock = { holder, expiresAt };
    return 'again';
  }

  async deactivate(taskId: string): Promise<void> {
    this.active.delete(taskId);
  }

  async getShares(): Promise<StoredShares | undefined> {
    const current = this.versions.at(-1);
    return current === undefined ? undefined : copy(current);
  }

  async putShares(
    tree: ShareTree,
    change: { expectedVersion: number; at: string; by: string },
  ): Promise<'ok' | 'conflict'> {
    if (this.versions.length !== change.expectedVersion) return 'conflict';
    this.versions.push({
      tree: copy(tree),
      version: change.expectedVersion + 1,
      updatedAt: change.at,
      updatedBy: change.by,
    });
    return 'ok';
  }

  async usage(): Promise<Map<string, Decayed>> {
    return new Map([...this.usageValues].map(([k, v]) => [k, { ...v }]));
  }

  async putUsage(values: Array<{ key: string } & Decayed>): Promise<void> {
    for (const { key, value, at } of values) this.usageValues.set(key, { value, at });
  }
}

/** The retry rules' versions; a new version only from the one before, as the adapter's transaction. */
export class InMemoryRetryPolicyStore implements RetryPolicyStore {
  private readonly versions: RetryPolicyVersion[] = [];

  async current(): Promise<RetryPolicyVersion | undefined> {
    const last = this.versions.at(-1);
    return last === undefined ? undefined : copy(last);
  }

  async get(version: number): Promise<RetryPolicyVersion | undefined> {
    const found = this.versions.find((v) => v.version === version);
    return found === undefined ? undefined : copy(found);
  }

  async list(page: PageRequest): Promise<Page<RetryPolicyVersion>> {
    return pageOf([...this.versions].reverse().map(copy), page, 'retry rules versions');
  }

  async create(policy: RetryPolicyVersion): Promise<'ok' | 'conflict'> {
    if (policy.version !== (this.versions.at(-1)?.version ?? 0) + 1) return 'conflict';
    this.versions.push(copy(policy));
    return 'ok';
  }
}

/** Usage records and roll-ups in maps; a record written before adds nothing, as the adapter's condition. */
export class InMemoryAccountingStore implements AccountingStore {
  private readonly records = new Map<string, UsageRecord>();
  private readonly rows = new Map<string, RollupRow>();
  private readonly costs = new Map<string, TaskCost>();

  async record(usage: UsageRecord): Promise<'recorded' | 'duplicate'> {
    const key = usageKeyOf(usage);
    if (this.records.has(key)) return 'duplicate';
    this.records.set(key, copy(usage));
    if (usage.costUsd !== undefined) {
      const cost = this.costs.get(usage.taskId) ?? { usd: 0, attempts: 0 };
      this.costs.set(usage.taskId, { usd: addUsd(cost.usd, usage.costUsd), attempts: cost.attempts + 1 });
    }
    const delta = rollupDeltaOf(usage);
    for (const by of ACCOUNTING_BY) {
      const rowKey = `${by}\u0000${usage.day}\u0000${rollupKeyOf(usage, by)}`;
      this.rows.set(
        rowKey,
        addToRollup(this.rows.get(rowKey) ?? emptyRollup(usage.day, rollupKeyOf(usage, by)), delta),
      );
    }
    return 'recorded';
  }

  async rollups(by: AccountingBy, range: { from: string; to: string; key?: string }): Promise<RollupRow[]> {
    return [...this.rows.entries()]
      .filter(
        ([rowKey, row]) => rowKey.startsWith(`${by}\u0000`) && row.day >= range.from && row.day <= range.to,
      )
      .map(([, row]) => row)
      .filter((row) => range.key === undefined || row.key === range.key)
      .sort((a, b) => a.day.localeCompare(b.day) || a.key.localeCompare(b.key))
      .map(copy);
  }

  async usageOfDay(day: string): Promise<UsageRecord[]> {
    return [...this.records.values()].filter((r) => r.day === day).map(copy);
  }

  async taskCost(taskId: string): Promise<TaskCost> {
    return { ...(this.costs.get(taskId) ?? { usd: 0, attempts: 0 }) };
  }
}

/** Keeps what is exported, by key. */
export class InMemoryAccountingExports implements AccountingExports {
  readonly objects = new Map<string, { body: Uint8Array; contentType: string }>();

  async put(key: string, body: Uint8Array, contentType: string): Promise<void> {
    this.objects.set(key, { body: new Uint8Array(body), contentType });
  }
}

/** Records workflow starts and wait releases; `startError` makes startTask throw it. */
export class RecordingWorkflowEngine implements WorkflowEngine {
  readonly started: string[] = [];
  readonly releases: Array<{ token: string; output: WaitOutcome }> = [];
  startError: Error | undefined;

  /** Records the execution's name: the task id, or `<taskId>-r<order>` for a reopened task. */
  async startTask(taskId: string, options: { resubmitOrder?: number } = {}): Promise<void> {
    if (this.startError !== undefined) throw this.startError;
    const name = options.resubmitOrder === undefined ? taskId : `${taskId}-r${options.resubmitOrder}`;
    if (!this.started.includes(name)) this.started.push(name);
  }

  async releaseWait(token: string, output: WaitOutcome): Promise<void> {
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

  async presignGet(key: string, expiresInSec: number): Promise<string> {
    return `memory://${this.bucket}/${key}?get&expiresIn=${expiresInSec}`;
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

/**
 * `t-000001`, `t-000002`, … and `p-000001`, … (valid TaskIdSchema / PilotIdSchema ids); a pilot's
 * registration key gets the id it got the first time.
 */
export class SequentialIds implements Ids {
  private tasks = 0;
  private pilots = 0;
  private readonly keyed = new Map<string, string>();

  taskId(): string {
    this.tasks += 1;
    return `t-${String(this.tasks).padStart(6, '0')}`;
  }

  pilotId(registrationKey?: string): string {
    const known = registrationKey === undefined ? undefined : this.keyed.get(registrationKey);
    if (known !== undefined) return known;
    this.pilots += 1;
    const pilotId = `p-${String(this.pilots).padStart(6, '0')}`;
    if (registrationKey !== undefined) this.keyed.set(registrationKey, pilotId);
    return pilotId;
  }
}

export const DEFAULT_SETTINGS: Settings = {
  leaseSec: 120,
  heartbeatSec: 60,
  rangePageSize: 100,
  rangeLeaseSec: 600,
};

/** Vends the credentials it is given (or none), recording each request. */
export class FixedCredentialVendor implements CredentialVendor {
  credentials: PilotCredentials | undefined;
  readonly requests: Array<{
    pilotId: string;
    siteId: string;
    queueUrl: string;
    bucket: string;
    leaseTable: string;
  }> = [];

  constructor(credentials?: PilotCredentials) {
    this.credentials = credentials;
  }

  async vend(scope: {
    pilotId: string;
    siteId: string;
    queueUrl: string;
    bucket: string;
    leaseTable: string;
  }): Promise<PilotCredentials | undefined> {
    this.requests.push(scope);
    return this.credentials;
  }
}

/** Metric samples held in memory (tests add them), summed per minute as CloudWatch answers. */
export class InMemoryMetricsReader implements MetricsReader {
  readonly samples: MetricSample[] = [];

  async read(range: MetricsRange): Promise<MetricSeries[]> {
    return sumPerMinute(this.samples, range);
  }
}

/** The in-memory deps with their concrete types, so tests reach the recording helpers. */
export interface InMemoryDeps extends Deps {
  tasks: InMemoryTaskStore;
  jobs: InMemoryJobStore;
  ranges: InMemoryEventRangeStore;
  pilots: InMemoryPilotStore;
  leases: InMemoryPilotLeaseStore;
  sites: InMemorySiteStore;
  policies: InMemoryPolicyStore;
  queue: InMemoryJobQueue;
  rangeQueue: InMemoryRangeQueue;
  objects: InMemoryObjectStore;
  workflow: RecordingWorkflowEngine;
  credentials: FixedCredentialVendor;
  clock: SettableClock;
  ids: SequentialIds;
  retryPolicies: InMemoryRetryPolicyStore;
  accounting: InMemoryAccountingStore;
  accountingExports: InMemoryAccountingExports;
  events: RecordingEventBus;
  webhooks: InMemoryWebhookStore;
  webhookSender: ScriptedWebhookSender;
  webhookIds: SequentialWebhookIds;
  metricsReader: InMemoryMetricsReader;
  catalog: InMemoryCatalogStore;
  buckets: InMemoryBucketReader;
  rules: InMemoryRuleStore;
  ruleIds: SequentialRuleIds;
  transferQueue: InMemoryTransferQueue;
  copier: InMemoryObjectCopier;
  metaTasks: InMemoryMetaTaskStore;
  metaTaskWorkflow: RecordingMetaTaskWorkflow;
}

export function inMemoryDeps(
  options: { settings?: Partial<Settings>; start?: Date | string } = {},
): InMemoryDeps {
  return {
    tasks: new InMemoryTaskStore(),
    jobs: new InMemoryJobStore(),
    ranges: new InMemoryEventRangeStore(),
    pilots: new InMemoryPilotStore(),
    leases: new InMemoryPilotLeaseStore(),
    sites: new InMemorySiteStore(),
    policies: new InMemoryPolicyStore(),
    queue: new InMemoryJobQueue(),
    rangeQueue: new InMemoryRangeQueue(),
    objects: new InMemoryObjectStore(),
    workflow: new RecordingWorkflowEngine(),
    credentials: new FixedCredentialVendor(),
    clock: new SettableClock(options.start),
    ids: new SequentialIds(),
    settings: { ...DEFAULT_SETTINGS, ...options.settings },
    retryPolicies: new InMemoryRetryPolicyStore(),
    accounting: new InMemoryAccountingStore(),
    accountingExports: new InMemoryAccountingExports(),
    events: new RecordingEventBus(),
    webhooks: new InMemoryWebhookStore(),
    webhookSender: new ScriptedWebhookSender(),
    webhookIds: new SequentialWebhookIds(),
    notifications: { ...DEFAULT_NOTIFICATION_SETTINGS },
    metricsReader: new InMemoryMetricsReader(),
    catalog: new InMemoryCatalogStore(),
    buckets: new InMemoryBucketReader(),
    rules: new InMemoryRuleStore(),
    ruleIds: new SequentialRuleIds(),
    transferQueue: new InMemoryTransferQueue(),
    copier: new InMemoryObjectCopier(),
    transfers: { ...TEST_TRANSFER_SETTINGS },
    metaTasks: new InMemoryMetaTaskStore(),
    metaTaskWorkflow: new RecordingMetaTaskWorkflow(),
  };
}

/**
 * Runs the change feed consumer (the stream function's use case) over every job record change so
 * far, as the stream would: messages of newly queued attempts, archived attempts, counters, the
 * workflow released. Returns what it did.
 */
export async function settleJobChanges(
  deps: InMemoryDeps,
): Promise<Awaited<ReturnType<typeof recordJobChanges>>> {
  const changes = deps.jobs.takeChanges();
  return recordJobChanges(deps, changes);
}

/** A site with the schema's defaults filled (online, 1 core, 2000 MB, 24 h, 10 GB slots). */
export function siteOf(input: SiteInput): Site {
  return SiteSchema.parse(input);
}
