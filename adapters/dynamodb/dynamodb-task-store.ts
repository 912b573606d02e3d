import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  type QueryCommandOutput,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { Page, PageRequest } from '#core/api/common.ts';
import type { ResolvedFile, ResolvedInputs } from '#core/catalog/task-inputs.ts';
import { ConflictError } from '#core/errors.ts';
import { RANGE_COUNTER_NAMES, type RangeCounters } from '#core/event-ranges/range-counts.ts';
import type { OutputFile } from '#core/jobs/job.ts';
import { COUNTER_NAMES, deriveJobCounts, type JobCounters, type JobCounts } from '#core/jobs/job-counts.ts';
import type { BrokerageDecision } from '#core/policies/brokerage-decision.ts';
import type {
  AddInputs,
  CountEntry,
  CreateTaskOutcome,
  IdempotencyKeyHold,
  RangeCountEntry,
  TaskStore,
} from '#core/tasks/ports.ts';
import type { TaskSizing } from '#core/tasks/scout-sizing.ts';
import {
  FINAL_TASK_STATES,
  isFinalTaskState,
  type ResubmitOrder,
  type Task,
  type TaskHead,
  type TaskState,
  type TaskStateChange,
} from '#core/tasks/task.ts';
import { readsDataset, type TaskSpec, withResolvedInputs } from '#core/tasks/task-spec.ts';
import { TASK_TRANSITIONS, type TaskEvent } from '#core/tasks/transitions.ts';
import { mapBounded } from '../concurrency.ts';
import { errorName, rethrowSdkError } from '../sdk-errors.ts';
import { encodePageToken } from './page-token.ts';
import { queryByOwner } from './query-by-owner.ts';
import { TASK_SK } from './tables.ts';

const CONDITION_FAILED = 'ConditionalCheckFailedException';
/** Tasks of a listing whose counters are read at once. */
const COUNTER_READS_IN_FLIGHT = 10;
/** Specs kept per process: a spec never changes once stored, and claims read it for every job. */
const SPEC_CACHE_SIZE = 256;
/** Sequence numbers are compared as strings of this many digits (DynamoDB Streams uses up to 40). */
const SEQ_DIGITS = 48;

type Item = Record<string, unknown>;

function padSeq(seq: string): string {
  return seq.padStart(SEQ_DIGITS, '0');
}

/** Files per `#inputs#` item: a few hundred bytes each, far inside a 400 KB item. */
const INPUTS_PER_ITEM = 200;

/** The resolved inputs from their items (in sort key order, which is file order). */
function resolvedOf(items: Item[]): ResolvedInputs | undefined {
  const pages = items.filter((i) => typeof i.sk === 'string' && i.sk.startsWith(TASK_SK.inputsPrefix));
  if (pages.length === 0) return undefined;
  const files: ResolvedFile[] = [];
  let endpoints: Record<string, string[]> = {};
  for (const page of pages) {
    files.push(...(page.files as ResolvedFile[]));
    endpoints = { ...endpoints, ...(page.endpoints as Record<string, string[]>) };
  }
  return { files, endpoints, closed: (pages.at(-1) as Item).closed === true };
}

function headOf(item: Item): TaskHead & { waitToken?: string } {
  const { sk: _sk, ...rest } = item;
  const head = rest as unknown as TaskHead & { waitToken?: string };
  return { ...head, cancelRequested: head.cancelRequested === true, cancelSwept: head.cancelSwept === true };
}

/** The counters `names` summed over the counter items whose sort key starts with `prefix`. */
function sumCounters<K extends string>(
  items: Item[],
  prefix: string,
  names: readonly K[],
): Record<K, number> {
  const sums = Object.fromEntries(names.map((name) => [name, 0])) as Record<K, number>;
  for (const item of items) {
    if (typeof item.sk !== 'string' || !item.sk.startsWith(prefix)) continue;
    for (const name of names) if (typeof item[name] === 'number') sums[name] += item[name] as number;
  }
  return sums;
}

function jobCountersOf(items: Item[]): JobCounters {
  return sumCounters(items, TASK_SK.countsPrefix, COUNTER_NAMES);
}

function rangeCountersOf(items: Item[]): RangeCounters {
  return sumCounters(items, TASK_SK.rangeCountsPrefix, RANGE_COUNTER_NAMES);
}

function publicHead(head: TaskHead & { waitToken?: string }): TaskHead {
  const { waitToken: _token, ...rest } = head;
  return rest;
}

/**
 * Tasks in the tasks table: per task, the immutable spec (sk `#spec`), the small head (sk `task`)
 * and one counter item per feed of job changes (sk `counts#<feed>`) and of range changes
 * (sk `ranges#<feed>`), written by the change feed consumers exactly once per change: each item
 * remembers the last sequence number it applied.
 */
export class DynamoDbTaskStore implements TaskStore {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;
  private readonly specs = new Map<string, TaskSpec>();

  constructor(client: DynamoDBDocumentClient, tableName: string) {
    this.client = client;
    this.tableName = tableName;
  }

  async create(task: Task, idempotency?: IdempotencyKeyHold): Promise<CreateTaskOutcome> {
    const { spec, counts: _counts, rangeCounters: _rangeCounters, ...head } = task;
    try {
      await this.client.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.tableName,
                Item: { ...head, sk: TASK_SK.head },
                ConditionExpression: 'attribute_not_exists(taskId)',
              },
            },
            { Put: { TableName: this.tableName, Item: { taskId: task.taskId, sk: TASK_SK.spec, spec } } },
            ...(idempotency === undefined ? [] : [this.idempotencyPut(task, idempotency)]),
          ],
        }),
      );
    } catch (error) {
      if (firstConditionFailed(error)) throw new ConflictError(`task ${task.taskId} already exists`);
      const holder = idempotency === undefined ? undefined : heldFor(error);
      if (holder !== undefined) return { created: false, taskId: holder };
      rethrowSdkError(error, 'create task');
    }
    return { created: true };
  }

  /**
   * The owner's key as an item of its own (pk `idem#<owner>#<key>`, which no task id can be; no
   * `owner`, so byOwner never lists it), taken when absent or expired. DynamoDB's TTL removes it
   * some time after `expiresAt`; until then the condition treats it as free.
   */
  private idempotencyPut(task: Task, hold: IdempotencyKeyHold) {
    return {
      Put: {
        TableName: this.tableName,
        Item: {
          taskId: idempotencyPk(task.owner, hold.key),
          sk: TASK_SK.idempotency,
          forTaskId: task.taskId,
          expiresAt: Math.floor(Date.parse(hold.expiresAt) / 1000),
        },
        ConditionExpression: 'attribute_not_exists(taskId) OR expiresAt <= :now',
        ExpressionAttributeValues: { ':now': Math.floor(Date.parse(hold.now) / 1000) },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
      },
    };
  }

  async releaseIdempotencyKey(owner: string, key: string, taskId: string): Promise<void> {
    try {
      await this.client.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { taskId: idempotencyPk(owner, key), sk: TASK_SK.idempotency },
          ConditionExpression: 'forTaskId = :taskId',
          ExpressionAttributeValues: { ':taskId': taskId },
        }),
      );
    } catch (error) {
      if (errorName(error) === CONDITION_FAILED) return;
      rethrowSdkError(error, 'release idempotency key');
    }
  }

  /** One strongly consistent Query: resolved inputs, spec, counters and head (not the brokerage decision). */
  async get(taskId: string): Promise<Task | undefined> {
    const items = await this.query(taskId, TASK_SK.inputsPrefix);
    const headItem = items.find((i) => i.sk === TASK_SK.head);
    const specItem = items.find((i) => i.sk === TASK_SK.spec);
    if (headItem === undefined || specItem === undefined) return undefined;
    const head = publicHead(headOf(headItem));
    const spec = withResolvedInputs(specItem.spec as TaskSpec, resolvedOf(items));
    this.remember(taskId, spec);
    return {
      ...head,
      spec,
      counts: deriveJobCounts(head, jobCountersOf(items)),
      rangeCounters: rangeCountersOf(items),
    };
  }

  async getHead(taskId: string, options: { consistent?: boolean } = {}): Promise<TaskHead | undefined> {
    try {
      const out = await this.client.send(
        new GetCommand({
          TableName: this.tableName,
          Key: { taskId, sk: TASK_SK.head },
          ConsistentRead: options.consistent ?? true,
        }),
      );
      return out.Item === undefined ? undefined : publicHead(headOf(out.Item));
    } catch (error) {
      rethrowSdkError(error, 'get task');
    }
  }

  /**
   * The spec and, for a dataset task, its resolved inputs (sk `#inputs#<first file index>`, which
   * sort just before `#spec`): one Query, as many requests as the GetItem of a spec alone.
   */
  async getSpec(taskId: string): Promise<TaskSpec | undefined> {
    const cached = this.specs.get(taskId);
    if (cached !== undefined) return cached;
    const items = await this.query(taskId, TASK_SK.inputsPrefix, TASK_SK.spec);
    const specItem = items.find((i) => i.sk === TASK_SK.spec);
    if (specItem === undefined) return undefined;
    const spec = withResolvedInputs(specItem.spec as TaskSpec, resolvedOf(items));
    this.remember(taskId, spec);
    return spec;
  }

  async addInputs(taskId: string, change: AddInputs): Promise<boolean> {
    const pages: ResolvedFile[][] = [];
    for (let i = 0; i < change.files.length; i += INPUTS_PER_ITEM)
      pages.push(change.files.slice(i, i + INPUTS_PER_ITEM));
    // A closing with no new file still writes an (empty) page: it carries `closed`.
    if (pages.length === 0) pages.push([]);
    const head = {
      Update: {
        TableName: this.tableName,
        Key: { taskId, sk: TASK_SK.head },
        UpdateExpression: `SET inputFiles = :to, inputsClosed = :closed, jobCount = :jobCount, updatedAt = :at${change.cursor === undefined ? '' : ', inputsCursor = :cursor'}`,
        ConditionExpression: `${change.from === 0 ? 'attribute_not_exists(inputFiles)' : 'inputFiles = :from'} AND (attribute_not_exists(inputsClosed) OR inputsClosed = :false) AND NOT #state IN (${[...FINAL_TASK_STATES].map((_, k) => `:final${k}`).join(', ')})`,
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: {
          ':to': change.from + change.files.length,
          ':closed': change.closed,
          ':jobCount': change.jobCount,
          ':at': change.at,
          ':false': false,
          ...(change.from === 0 ? {} : { ':from': change.from }),
          ...(change.cursor === undefined ? {} : { ':cursor': change.cursor }),
          ...Object.fromEntries([...FINAL_TASK_STATES].map((state, k) => [`:final${k}`, state])),
        },
      },
    };
    let first = change.from;
    const puts = pages.map((files) => {
      const item = {
        taskId,
        sk: `${TASK_SK.inputsPrefix}${String(first).padStart(10, '0')}`,
        files,
        endpoints: change.endpoints,
        closed: change.closed,
      };
      first += files.length;
      return { Put: { TableName: this.tableName, Item: item } };
    });
    try {
      await this.client.send(new TransactWriteCommand({ TransactItems: [head, ...puts] }));
      this.specs.delete(taskId);
      return true;
    } catch (error) {
      if (firstConditionFailed(error)) return false;
      rethrowSdkError(error, 'add task inputs');
    }
  }

  /** Counters and head in one Query (the spec sorts before them and is not read). */
  async getProgress(
    taskId: string,
  ): Promise<
    (TaskHead & { counts: JobCounts; rangeCounters: RangeCounters; waitToken?: string }) | undefined
  > {
    const items = await this.query(taskId, TASK_SK.countsPrefix);
    const headItem = items.find((i) => i.sk === TASK_SK.head);
    if (headItem === undefined) return undefined;
    const head = headOf(headItem);
    return {
      ...head,
      counts: deriveJobCounts(head, jobCountersOf(items)),
      rangeCounters: rangeCountersOf(items),
    };
  }

  async listByOwner(
    owner: string,
    page: PageRequest,
  ): Promise<Page<TaskHead & { counts: JobCounts; rangeCounters: RangeCounters }>> {
    const out = await queryByOwner(
      this.client,
      this.tableName,
      { owner, sk: TASK_SK.head },
      page,
      'list tasks',
    );
    const heads = (out.Items ?? []).filter((i) => i.sk === TASK_SK.head).map((i) => publicHead(headOf(i)));
    const items = await mapBounded(heads, COUNTER_READS_IN_FLIGHT, async (head) => {
      const counters = await this.query(head.taskId, TASK_SK.countsPrefix);
      return {
        ...head,
        counts: deriveJobCounts(head, jobCountersOf(counters)),
        rangeCounters: rangeCountersOf(counters),
      };
    });
    return {
      items,
      ...(out.LastEvaluatedKey === undefined ? {} : { nextToken: encodePageToken(out.LastEvaluatedKey) }),
    };
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
    const { from, to } = TASK_TRANSITIONS[event];
    const entry: TaskStateChange = {
      state: to,
      at: change.at,
      ...(change.reason !== undefined && { reason: change.reason }),
    };
    const sets = [
      '#state = :to',
      'updatedAt = :at',
      'history = list_append(if_not_exists(history, :none), :entry)',
    ];
    const values: Item = { ':to': to, ':at': change.at, ':none': [], ':entry': [entry] };
    if (change.reason !== undefined) {
      sets.push('reason = :reason');
      values[':reason'] = change.reason;
    }
    if (change.siteIds !== undefined) {
      sets.push('siteIds = :siteIds');
      values[':siteIds'] = change.siteIds;
    }
    if (change.siteShares !== undefined) {
      sets.push('siteShares = :siteShares');
      values[':siteShares'] = change.siteShares;
    }
    if (change.outputs !== undefined) {
      sets.push('outputs = :outputs');
      values[':outputs'] = change.outputs;
    }
    if (isFinalTaskState(to)) sets.push('endedAt = :at');
    from.forEach((state, i) => {
      values[`:from${i}`] = state;
    });
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { taskId, sk: TASK_SK.head },
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: `#state IN (${from.map((_, i) => `:from${i}`).join(', ')})`,
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: values,
        }),
      );
      return true;
    } catch (error) {
      if (errorName(error) === CONDITION_FAILED) return false;
      rethrowSdkError(error, 'task transition');
    }
  }

  /** The decision's item, on the condition (checked in the same transaction) that the head is submitted. */
  async recordBrokerage(taskId: string, decision: BrokerageDecision): Promise<boolean> {
    try {
      await this.client.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              ConditionCheck: {
                TableName: this.tableName,
                Key: { taskId, sk: TASK_SK.head },
                ConditionExpression: '#state = :submitted',
                ExpressionAttributeNames: { '#state': 'state' },
                ExpressionAttributeValues: { ':submitted': 'submitted' },
              },
            },
            {
              Put: {
                TableName: this.tableName,
                Item: { taskId, sk: TASK_SK.brokerage, decision },
              },
            },
          ],
        }),
      );
      return true;
    } catch (error) {
      if (firstConditionFailed(error)) return false;
      rethrowSdkError(error, 'record brokerage');
    }
  }

  async getBrokerage(taskId: string): Promise<BrokerageDecision | undefined> {
    try {
      const out = await this.client.send(
        new GetCommand({
          TableName: this.tableName,
          Key: { taskId, sk: TASK_SK.brokerage },
          ConsistentRead: true,
        }),
      );
      return out.Item === undefined ? undefined : (out.Item.decision as BrokerageDecision);
    } catch (error) {
      rethrowSdkError(error, 'get brokerage');
    }
  }

  async recordEnqueued(taskId: string, jobsEnqueued: number, at: string): Promise<void> {
    await this.moveForward(taskId, 'jobsEnqueued', jobsEnqueued, at);
  }

  async recordRangesEnqueued(taskId: string, rangesEnqueued: number, at: string): Promise<void> {
    await this.moveForward(taskId, 'rangesEnqueued', rangesEnqueued, at);
  }

  /** Sets an enqueue position of the head if it moves it forward (a replayed page does not). */
  private async moveForward(
    taskId: string,
    field: 'jobsEnqueued' | 'rangesEnqueued',
    position: number,
    at: string,
  ): Promise<void> {
    await this.updateHead(taskId, `record ${field}`, {
      set: 'SET #field = :n, updatedAt = :at',
      // Heads of tasks without event service have no rangesEnqueued.
      condition: '(attribute_not_exists(#field) OR #field < :n)',
      names: { '#field': field },
      values: { ':n': position, ':at': at },
    });
  }

  async startMerge(
    taskId: string,
    change: { consumers: number; mergeJobs: number; at: string },
  ): Promise<boolean> {
    // False when started already (a replayed step).
    return this.updateHead(taskId, 'start merge', {
      set: 'SET mergeJobs = :merge, jobCount = :total, updatedAt = :at',
      condition: 'attribute_not_exists(mergeJobs) AND jobCount = :consumers',
      values: {
        ':merge': change.mergeJobs,
        ':total': change.consumers + change.mergeJobs,
        ':consumers': change.consumers,
        ':at': change.at,
      },
    });
  }

  async recordSizing(taskId: string, change: { scouts: number; sizing: TaskSizing }): Promise<boolean> {
    // One write, so a head read with the grown jobCount always has the sizing its jobs follow.
    return this.updateHead(taskId, 'record sizing', {
      set: 'SET sizing = :sizing, jobCount = :total, updatedAt = :at',
      condition: 'attribute_not_exists(sizing) AND jobCount = :scouts AND #state = :running',
      names: { '#state': 'state' },
      values: {
        ':sizing': change.sizing,
        ':total': change.scouts + change.sizing.jobs,
        ':scouts': change.scouts,
        ':running': 'running',
        ':at': change.sizing.at,
      },
    });
  }

  async requestCancel(taskId: string, at: string): Promise<TaskState | undefined> {
    return this.updateIfNotFinal(
      taskId,
      'request task cancel',
      'cancelRequested = :true',
      { ':true': true },
      at,
    );
  }

  async steer(
    taskId: string,
    change: { paused?: boolean; resumePending?: boolean; priority?: number; at: string },
  ): Promise<TaskState | undefined> {
    const sets: string[] = [];
    const values: Item = {};
    if (change.paused !== undefined) {
      sets.push('paused = :paused');
      values[':paused'] = change.paused;
    }
    if (change.resumePending !== undefined) {
      sets.push('resumePending = :resumePending');
      values[':resumePending'] = change.resumePending;
    }
    if (change.priority !== undefined) {
      sets.push('priority = :priority');
      values[':priority'] = change.priority;
    }
    return this.updateIfNotFinal(taskId, 'steer task', sets.join(', '), values, change.at);
  }

  /** Sets `set` on a head that exists and is not final; the state seen (after or refused). */
  private async updateIfNotFinal(
    taskId: string,
    what: string,
    set: string,
    setValues: Item,
    at: string,
  ): Promise<TaskState | undefined> {
    const finals = [...FINAL_TASK_STATES];
    const values: Item = { ...setValues, ':at': at };
    finals.forEach((state, i) => {
      values[`:final${i}`] = state;
    });
    try {
      const out = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { taskId, sk: TASK_SK.head },
          // `#state = #state` only makes UPDATED_NEW return the state.
          UpdateExpression: `SET ${set === '' ? '' : `${set}, `}updatedAt = :at, #state = #state`,
          ConditionExpression: `attribute_exists(taskId) AND NOT (#state IN (${finals.map((_, i) => `:final${i}`).join(', ')}))`,
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: values,
          ReturnValues: 'UPDATED_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return out.Attributes?.state as TaskState | undefined;
    } catch (error) {
      // No task (no item returned) or a final one (its state returned).
      if (errorName(error) === CONDITION_FAILED) return stateOfFailedItem(error);
      rethrowSdkError(error, what);
    }
  }

  async markCancelSwept(taskId: string, at: string): Promise<void> {
    await this.updateHead(taskId, 'mark cancel swept', {
      set: 'SET cancelSwept = :true, updatedAt = :at',
      values: { ':true': true, ':at': at },
    });
  }

  async resubmit(
    taskId: string,
    order: ResubmitOrder,
    change: { from: TaskState; reason: string },
  ): Promise<boolean> {
    const reopen = TASK_TRANSITIONS.reopen;
    const allowed = order.reopened
      ? (reopen.from as readonly TaskState[]).includes(change.from)
      : change.from === 'running';
    if (!allowed) return false;
    const previous = order.order - 1;
    const sets = ['resubmitOrder = :order', 'resubmitOrders = :n', 'updatedAt = :at'];
    const removes: string[] = [];
    const values: Item = {
      ':order': order,
      ':n': order.order,
      ':at': order.at,
      ':from': change.from,
      ':true': true,
    };
    if (order.reopened) {
      const entry: TaskStateChange = { state: reopen.to, at: order.at, reason: change.reason };
      sets.push('#state = :to', 'history = list_append(if_not_exists(history, :none), :entry)');
      Object.assign(values, { ':to': reopen.to, ':none': [], ':entry': [entry] });
      removes.push('endedAt', 'reason', 'outputs', 'waitToken', 'paused', 'resumePending');
    }
    if (previous > 0) values[':previous'] = previous;
    return this.updateHead(taskId, 'resubmit task', {
      set: `SET ${sets.join(', ')}${removes.length > 0 ? ` REMOVE ${removes.join(', ')}` : ''}`,
      // Fenced on the state seen, no order pending, and this order's number following the last.
      condition: [
        '#state = :from',
        'cancelRequested <> :true',
        'attribute_not_exists(resubmitOrder)',
        previous > 0 ? 'resubmitOrders = :previous' : 'attribute_not_exists(resubmitOrders)',
      ].join(' AND '),
      names: { '#state': 'state' },
      values,
    });
  }

  async endResubmit(taskId: string, change: { order: number; jobs: number; at: string }): Promise<boolean> {
    return this.updateHead(taskId, 'end resubmit', {
      set: 'SET jobsResubmitted = if_not_exists(jobsResubmitted, :zero) + :jobs, updatedAt = :at REMOVE resubmitOrder',
      condition: 'resubmitOrder.#order = :order',
      names: { '#order': 'order' },
      values: { ':zero': 0, ':jobs': change.jobs, ':at': change.at, ':order': change.order },
    });
  }

  async storeWaitToken(taskId: string, token: string): Promise<void> {
    await this.updateHead(taskId, 'store wait token', {
      set: 'SET waitToken = :token',
      values: { ':token': token },
    });
  }

  async addJobCounts(taskId: string, feed: string, entries: CountEntry[]): Promise<void> {
    await this.addCounts(
      taskId,
      `${TASK_SK.countsPrefix}${feed}`,
      COUNTER_NAMES,
      entries,
      'count job changes',
    );
  }

  async addRangeCounts(taskId: string, feed: string, entries: RangeCountEntry[]): Promise<void> {
    await this.addCounts(
      taskId,
      `${TASK_SK.rangeCountsPrefix}${feed}`,
      RANGE_COUNTER_NAMES,
      entries,
      'count range changes',
    );
  }

  /**
   * Adds the entries to the counter item `sk` in one conditional write, on the condition that
   * none was applied already (the item's lastSeq is before the first); else keeps the newer ones.
   */
  private async addCounts<K extends string>(
    taskId: string,
    sk: string,
    counterNames: readonly K[],
    entries: Array<{ seq: string; delta: Partial<Record<K, number>> }>,
    what: string,
  ): Promise<void> {
    let pending = [...entries].sort((a, b) => compareSeq(a.seq, b.seq));
    for (let tries = 0; pending.length > 0; tries++) {
      const first = pending[0] as (typeof pending)[number];
      const last = pending.at(-1) as (typeof pending)[number];
      const names: Record<string, string> = {};
      const adds: string[] = [];
      const values: Item = { ':first': padSeq(first.seq), ':last': padSeq(last.seq) };
      for (const name of counterNames) {
        const sum = pending.reduce((n, entry) => n + (entry.delta[name] ?? 0), 0);
        if (sum === 0) continue;
        names[`#${name}`] = name;
        values[`:${name}`] = sum;
        adds.push(`#${name} :${name}`);
      }
      try {
        await this.client.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: { taskId, sk },
            UpdateExpression: `SET lastSeq = :last${adds.length > 0 ? ` ADD ${adds.join(', ')}` : ''}`,
            ConditionExpression: 'attribute_not_exists(lastSeq) OR lastSeq < :first',
            ...(adds.length > 0 ? { ExpressionAttributeNames: names } : {}),
            ExpressionAttributeValues: values,
          }),
        );
        return;
      } catch (error) {
        if (errorName(error) !== CONDITION_FAILED || tries >= 3) rethrowSdkError(error, what);
      }
      // Some of these changes were applied already (a batch delivered again): keep only the newer ones.
      const applied = await this.lastSeq(taskId, sk);
      pending = pending.filter((entry) => applied === undefined || padSeq(entry.seq) > applied);
    }
  }

  private async lastSeq(taskId: string, sk: string): Promise<string | undefined> {
    try {
      const out = await this.client.send(
        new GetCommand({ TableName: this.tableName, Key: { taskId, sk }, ConsistentRead: true }),
      );
      const seq = out.Item?.lastSeq;
      return typeof seq === 'string' ? seq : undefined;
    } catch (error) {
      rethrowSdkError(error, 'read counters');
    }
  }

  private remember(taskId: string, spec: TaskSpec): void {
    // A dataset task's inputs grow until its dataset is closed: only then is its spec final.
    if (readsDataset(spec) && spec.inputs?.resolved?.closed !== true) return;
    if (this.specs.size >= SPEC_CACHE_SIZE) {
      const oldest = this.specs.keys().next().value;
      if (oldest !== undefined) this.specs.delete(oldest);
    }
    this.specs.set(taskId, spec);
  }

  /** The task's items (from `fromSk` on), strongly consistent. */
  /** The task's items from sort key `fromSk` on (up to `toSk` when given), strongly consistent. */
  private async query(taskId: string, fromSk: string | undefined, toSk?: string): Promise<Item[]> {
    const items: Item[] = [];
    let startKey: Item | undefined;
    const range =
      fromSk === undefined ? '' : toSk === undefined ? ' AND sk >= :from' : ' AND sk BETWEEN :from AND :to';
    try {
      do {
        const out: QueryCommandOutput = await this.client.send(
          new QueryCommand({
            TableName: this.tableName,
            KeyConditionExpression: `taskId = :t${range}`,
            ExpressionAttributeValues: {
              ':t': taskId,
              ...(fromSk === undefined ? {} : { ':from': fromSk }),
              ...(fromSk === undefined || toSk === undefined ? {} : { ':to': toSk }),
            },
            ConsistentRead: true,
            ExclusiveStartKey: startKey,
          }),
        );
        items.push(...(out.Items ?? []));
        startKey = out.LastEvaluatedKey;
      } while (startKey !== undefined);
    } catch (error) {
      rethrowSdkError(error, 'get task');
    }
    return items;
  }

  /** Updates the head if it exists and `condition` holds; false when not. */
  private async updateHead(
    taskId: string,
    what: string,
    update: { set: string; condition?: string; names?: Record<string, string>; values: Item },
  ): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { taskId, sk: TASK_SK.head },
          UpdateExpression: update.set,
          ConditionExpression: `attribute_exists(taskId)${update.condition === undefined ? '' : ` AND ${update.condition}`}`,
          ...(update.names === undefined ? {} : { ExpressionAttributeNames: update.names }),
          ExpressionAttributeValues: update.values,
        }),
      );
      return true;
    } catch (error) {
      if (errorName(error) === CONDITION_FAILED) return false;
      rethrowSdkError(error, what);
    }
  }
}

/** A transaction refused because its first item's condition failed. */
function firstConditionFailed(error: unknown): boolean {
  if (errorName(error) !== 'TransactionCanceledException') return false;
  const reasons = (error as { CancellationReasons?: Array<{ Code?: string }> }).CancellationReasons ?? [];
  return reasons[0]?.Code === 'ConditionalCheckFailed';
}

function idempotencyPk(owner: string, key: string): string {
  return `idem#${owner}#${key}`;
}

/** The task an unexpired hold names, when the key's put (the third item) failed its condition. */
function heldFor(error: unknown): string | undefined {
  if (errorName(error) !== 'TransactionCanceledException') return undefined;
  const reasons =
    (error as { CancellationReasons?: Array<{ Code?: string; Item?: Record<string, unknown> }> })
      .CancellationReasons ?? [];
  const reason = reasons[2];
  if (reason?.Code !== 'ConditionalCheckFailed') return undefined;
  const taskId = reason.Item?.forTaskId;
  if (typeof taskId === 'string') return taskId;
  // The document client leaves cancellation items marshalled.
  const raw = (taskId as { S?: unknown } | undefined)?.S;
  return typeof raw === 'string' ? raw : undefined;
}

function compareSeq(a: string, b: string): number {
  const pa = padSeq(a);
  const pb = padSeq(b);
  return pa < pb ? -1 : pa > pb ? 1 : 0;
}

/** The state in a ConditionalCheckFailed item (ReturnValuesOnConditionCheckFailure), raw or not. */
function stateOfFailedItem(error: unknown): TaskState | undefined {
  const item = (error as { Item?: Record<string, unknown> }).Item;
  const state = item?.state;
  if (typeof state === 'string') return state as TaskState;
  if (typeof state === 'object' && state !== null && typeof (state as { S?: unknown }).S === 'string') {
    return (state as { S: string }).S as TaskState;
  }
  return undefined;
}
