import { randomUUID } from 'node:crypto';
import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandOutput,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { Page } from '#core/api/contract.ts';
import { TransientError, ValidationError } from '#core/errors.ts';
import { type Job, type JobState, jobIdOf } from '#core/jobs/job.ts';
import type { JobStore, JobTransition, PageRequest, TransitionOutcome } from '#core/ports.ts';
import { canJobTransition, JOB_TRANSITIONS } from '#core/tasks/transitions.ts';
import { backoffDelay, mapBounded, sleep } from '../concurrency.ts';
import { errorName, isTransientSdkError, rethrowSdkError } from '../sdk-errors.ts';
import { allLeaseShards, counterSk, isCounted, isLeased, leaseShardOf, stateIndexOf } from './keys.ts';
import { decodePageToken, encodePageToken } from './page-token.ts';
import { INDEX } from './tables.ts';

const CONDITION_FAILED = 'ConditionalCheckFailedException';
/** Conditional puts in flight in createQueued (BatchWriteItem cannot be conditional). */
const PUTS_IN_FLIGHT = 25;
/** Tries of one job transition when the transaction meets a conflict or throttling. */
const TRANSITION_TRIES = 8;
/** Cancellation reason codes worth another try. */
const RETRYABLE_REASONS = new Set([
  'TransactionConflict',
  'ThrottlingError',
  'ProvisionedThroughputExceeded',
  'RequestLimitExceeded',
]);
const BATCH_GET_MAX = 100;

type Item = Record<string, unknown>;

/** The stored item: the job minus its derived id, plus the index keys. */
function toItem(job: Job): Item {
  const { jobId: _derived, ...rest } = job;
  const item: Item = { ...rest, stateIndex: stateIndexOf(job.state, job.jobIndex) };
  if (isLeased(job.state)) item.leaseShard = leaseShardOf(job.jobIndex);
  return item;
}

function fromItem(item: Item): Job {
  const { stateIndex: _stateIndex, leaseShard: _leaseShard, ...rest } = item;
  const job = rest as unknown as Omit<Job, 'jobId'>;
  return { ...job, jobId: jobIdOf(job.taskId, job.jobIndex), attempts: job.attempts ?? [] };
}

/** Builds `SET`/`REMOVE`/names/values for one job transition. */
function jobUpdate(
  t: JobTransition,
  to: JobState,
): {
  UpdateExpression: string;
  ConditionExpression: string;
  ExpressionAttributeNames: Record<string, string>;
  ExpressionAttributeValues: Item;
} {
  const names: Record<string, string> = { '#state': 'state', '#attempt': 'attempt' };
  const values: Item = {
    ':to': to,
    ':stateIndex': stateIndexOf(to, t.jobIndex),
    ':at': t.at,
    ':expectedState': t.expected.state,
    ':expectedAttempt': t.expected.attempt,
  };
  const sets = ['#state = :to', 'stateIndex = :stateIndex', 'updatedAt = :at'];
  const removes: string[] = [];
  let n = 0;
  for (const [field, value] of Object.entries(t.set ?? {})) {
    if (value === undefined || field === 'updatedAt') continue;
    names[`#f${n}`] = field;
    values[`:f${n}`] = value;
    sets.push(`#f${n} = :f${n}`);
    n++;
  }
  for (const field of t.remove ?? []) {
    names[`#f${n}`] = field;
    removes.push(`#f${n}`);
    n++;
  }
  if (isLeased(to)) {
    sets.push('leaseShard = :leaseShard');
    values[':leaseShard'] = leaseShardOf(t.jobIndex);
  } else {
    removes.push('leaseShard');
  }
  if (t.appendAttempt !== undefined) {
    sets.push('attempts = list_append(if_not_exists(attempts, :noAttempts), :attempt)');
    values[':noAttempts'] = [];
    values[':attempt'] = [t.appendAttempt];
  }
  let condition = '#state = :expectedState AND #attempt = :expectedAttempt';
  if (t.expected.pilotId !== undefined) {
    condition += ' AND pilotId = :expectedPilot';
    values[':expectedPilot'] = t.expected.pilotId;
  }
  const remove = removes.length > 0 ? ` REMOVE ${removes.join(', ')}` : '';
  return {
    UpdateExpression: `SET ${sets.join(', ')}${remove}`,
    ConditionExpression: condition,
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  };
}

interface CancellationReason {
  Code?: string;
}

/**
 * Jobs in the jobs table (pk taskId, sk jobIndex). Each transition also moves the job between
 * the counters of its task (items `counts#NN` in the tasks table) in one transaction, so the
 * counters stay exact under concurrency and replays.
 */
export class DynamoDbJobStore implements JobStore {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;
  private readonly tasksTableName: string;

  /**
   * `tasksTableName`: the tasks table, which holds the job counters and the cancel flag; when not
   * given, GLUON_TASKS_TABLE (the function environment contract) names it.
   */
  constructor(
    client: DynamoDBDocumentClient,
    tableName: string,
    tasksTableName: string | undefined = process.env.GLUON_TASKS_TABLE,
  ) {
    if (tasksTableName === undefined || tasksTableName === '') {
      throw new Error('DynamoDbJobStore needs the tasks table name (argument or GLUON_TASKS_TABLE)');
    }
    this.client = client;
    this.tableName = tableName;
    this.tasksTableName = tasksTableName;
  }

  async createQueued(jobs: Job[]): Promise<number> {
    for (const job of jobs) {
      // Queued jobs are not counted; a job created in a counted state would skew the counters.
      if (job.state !== 'queued')
        throw new Error(`createQueued: job ${job.jobId} is ${job.state}, not queued`);
    }
    const created = await mapBounded(jobs, PUTS_IN_FLIGHT, async (job) => {
      try {
        await this.client.send(
          new PutCommand({
            TableName: this.tableName,
            Item: toItem(job),
            ConditionExpression: 'attribute_not_exists(taskId)',
          }),
        );
        return true;
      } catch (error) {
        if (errorName(error) === CONDITION_FAILED) return false;
        rethrowSdkError(error, 'create job');
      }
    });
    return created.filter(Boolean).length;
  }

  async get(taskId: string, jobIndex: number): Promise<Job | undefined> {
    try {
      const out = await this.client.send(
        new GetCommand({ TableName: this.tableName, Key: { taskId, jobIndex }, ConsistentRead: true }),
      );
      return out.Item === undefined ? undefined : fromItem(out.Item);
    } catch (error) {
      rethrowSdkError(error, 'get job');
    }
  }

  async listByTask(taskId: string, filter: { state?: JobState }, page: PageRequest): Promise<Page<Job>> {
    const byState = filter.state !== undefined;
    const startKey = decodePageToken(
      page.nextToken,
      byState ? { taskId: 'S', jobIndex: 'N', stateIndex: 'S' } : { taskId: 'S', jobIndex: 'N' },
      { taskId },
    );
    if (byState && startKey !== undefined && !String(startKey.stateIndex).startsWith(`${filter.state}#`)) {
      throw new ValidationError('invalid page token', [
        { field: 'nextToken', message: 'not a token of this listing (another state filter)' },
      ]);
    }
    let out: QueryCommandOutput;
    try {
      out = await this.client.send(
        new QueryCommand(
          byState
            ? {
                TableName: this.tableName,
                IndexName: INDEX.jobsByTaskState,
                KeyConditionExpression: 'taskId = :t AND begins_with(stateIndex, :prefix)',
                ExpressionAttributeValues: { ':t': taskId, ':prefix': `${filter.state}#` },
                Limit: page.limit,
                ExclusiveStartKey: startKey,
              }
            : {
                TableName: this.tableName,
                KeyConditionExpression: 'taskId = :t',
                ExpressionAttributeValues: { ':t': taskId },
                ConsistentRead: true,
                Limit: page.limit,
                ExclusiveStartKey: startKey,
              },
        ),
      );
    } catch (error) {
      rethrowSdkError(error, 'list jobs');
    }
    const nextToken = encodePageToken(out.LastEvaluatedKey);
    if (!byState) return { items: (out.Items ?? []).map(fromItem), nextToken };
    // The byTaskState index keeps keys only (every job write would otherwise copy the whole item
    // into it): read the jobs themselves, consistently, and check they are still in that state.
    const keys = (out.Items ?? []).map((k) => ({ taskId: String(k.taskId), jobIndex: Number(k.jobIndex) }));
    const items = (await this.batchGet(keys))
      .filter((job) => job.state === filter.state)
      .sort((a, b) => a.jobIndex - b.jobIndex);
    return { items, nextToken };
  }

  /**
   * One TransactWriteItems: (a) the fenced job update, (b) the counter move when a counted state
   * is left or entered, (c) the task's cancel check when asked. A move the event does not allow
   * from `expected.state` is a conflict, decided without a request.
   */
  async transition(t: JobTransition): Promise<TransitionOutcome> {
    if (!canJobTransition(t.expected.state, t.event)) return 'conflict';
    const from = t.expected.state;
    const to = JOB_TRANSITIONS[t.event].to;
    const items: NonNullable<TransactWriteCommandInput['TransactItems']> = [
      {
        Update: {
          TableName: this.tableName,
          Key: { taskId: t.taskId, jobIndex: t.jobIndex },
          ...jobUpdate(t, to),
        },
      },
    ];
    const adds: string[] = [];
    const counterNames: Record<string, string> = {};
    const counterValues: Item = {};
    if (isCounted(from)) {
      adds.push('#from :minusOne');
      counterNames['#from'] = from;
      counterValues[':minusOne'] = -1;
    }
    if (isCounted(to)) {
      adds.push('#to :plusOne');
      counterNames['#to'] = to;
      counterValues[':plusOne'] = 1;
    }
    // A cancel copies its flag onto every counter shard of the task (DynamoDbTaskStore.requestCancel),
    // so "unless the task is cancelled" is a condition on the shard this transition updates anyway.
    const notCancelled = 'attribute_not_exists(cancelRequested)';
    const taskCheckIndex = t.unlessTaskCancelled === true ? 1 : -1;
    if (adds.length > 0) {
      items.push({
        Update: {
          TableName: this.tasksTableName,
          Key: { taskId: t.taskId, sk: counterSk(t.jobIndex) },
          UpdateExpression: `ADD ${adds.join(', ')}`,
          ExpressionAttributeNames: counterNames,
          ExpressionAttributeValues: counterValues,
          ...(t.unlessTaskCancelled === true ? { ConditionExpression: notCancelled } : {}),
        },
      });
    } else if (t.unlessTaskCancelled === true) {
      items.push({
        ConditionCheck: {
          TableName: this.tasksTableName,
          Key: { taskId: t.taskId, sk: counterSk(t.jobIndex) },
          ConditionExpression: notCancelled,
        },
      });
    }
    // One token for all our tries: a try whose answer was lost is not applied twice.
    const token = randomUUID();
    let lastError: unknown;
    for (let attempt = 0; attempt < TRANSITION_TRIES; attempt++) {
      if (attempt > 0) await sleep(backoffDelay(attempt));
      try {
        await this.client.send(new TransactWriteCommand({ TransactItems: items, ClientRequestToken: token }));
        return 'ok';
      } catch (error) {
        lastError = error;
        if (errorName(error) === 'TransactionCanceledException') {
          const reasons = (error as { CancellationReasons?: CancellationReason[] }).CancellationReasons ?? [];
          if (reasons[0]?.Code === 'ConditionalCheckFailed') return 'conflict';
          if (taskCheckIndex >= 0 && reasons[taskCheckIndex]?.Code === 'ConditionalCheckFailed') {
            return 'task-cancelled';
          }
          if (reasons.some((r) => r.Code !== undefined && RETRYABLE_REASONS.has(r.Code))) continue;
          throw error;
        }
        if (isTransientSdkError(error)) continue;
        throw error;
      }
    }
    throw new TransientError(
      `job transition ${jobIdOf(t.taskId, t.jobIndex)} ${t.event}: still conflicting after ${TRANSITION_TRIES} tries`,
      { cause: lastError },
    );
  }

  async renewDispatch(
    ref: { taskId: string; jobIndex: number; attempt: number },
    leaseExpiresAt: number,
    at: string,
  ): Promise<boolean> {
    return this.pushLease(ref, leaseExpiresAt, at, '#state = :queued AND #attempt = :attempt', {
      ':queued': 'queued',
    });
  }

  async renewLease(
    ref: { taskId: string; jobIndex: number; attempt: number; pilotId: string },
    leaseExpiresAt: number,
    at: string,
  ): Promise<boolean> {
    return this.pushLease(
      ref,
      leaseExpiresAt,
      at,
      '#state IN (:starting, :running) AND #attempt = :attempt AND pilotId = :pilot',
      { ':starting': 'starting', ':running': 'running', ':pilot': ref.pilotId },
    );
  }

  /** Moves a job's lease (run or dispatch) forward under a fencing condition; false if it no longer holds. */
  private async pushLease(
    ref: { taskId: string; jobIndex: number; attempt: number },
    leaseExpiresAt: number,
    at: string,
    condition: string,
    values: Item,
  ): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { taskId: ref.taskId, jobIndex: ref.jobIndex },
          UpdateExpression: 'SET leaseExpiresAt = :lease, updatedAt = :at',
          ConditionExpression: condition,
          ExpressionAttributeNames: { '#state': 'state', '#attempt': 'attempt' },
          ExpressionAttributeValues: {
            ':lease': leaseExpiresAt,
            ':at': at,
            ':attempt': ref.attempt,
            ...values,
          },
        }),
      );
      return true;
    } catch (error) {
      if (errorName(error) === CONDITION_FAILED) return false;
      rethrowSdkError(error, 'renew job lease');
    }
  }
  async listExpiredLeases(now: number, limit: number): Promise<Job[]> {
    if (limit <= 0) return [];
    let keys: Array<{ taskId: string; jobIndex: number; leaseExpiresAt: number }>;
    try {
      const perShard = await Promise.all(
        allLeaseShards().map(async (shard) => {
          const out = await this.client.send(
            new QueryCommand({
              TableName: this.tableName,
              IndexName: INDEX.jobsByLease,
              KeyConditionExpression: 'leaseShard = :shard AND leaseExpiresAt < :now',
              ExpressionAttributeValues: { ':shard': shard, ':now': now },
              ScanIndexForward: true,
              Limit: limit,
            }),
          );
          return (out.Items ?? []) as Array<{ taskId: string; jobIndex: number; leaseExpiresAt: number }>;
        }),
      );
      keys = perShard
        .flat()
        .sort((a, b) => a.leaseExpiresAt - b.leaseExpiresAt)
        .slice(0, limit);
    } catch (error) {
      rethrowSdkError(error, 'list expired leases');
    }
    const jobs = await this.batchGet(keys.map(({ taskId, jobIndex }) => ({ taskId, jobIndex })));
    const byKey = new Map(jobs.map((job) => [job.jobId, job]));
    return keys
      .map((k) => byKey.get(jobIdOf(k.taskId, k.jobIndex)))
      .filter(
        (job): job is Job =>
          job !== undefined &&
          isLeased(job.state) &&
          job.leaseExpiresAt !== undefined &&
          job.leaseExpiresAt < now,
      );
  }

  /** Strongly consistent BatchGetItem in chunks of 100, unprocessed keys retried. */
  private async batchGet(keys: Array<{ taskId: string; jobIndex: number }>): Promise<Job[]> {
    const jobs: Job[] = [];
    for (let i = 0; i < keys.length; i += BATCH_GET_MAX) {
      let pending: Item[] | undefined = keys.slice(i, i + BATCH_GET_MAX);
      for (let attempt = 0; pending !== undefined && pending.length > 0; attempt++) {
        if (attempt > 0) await sleep(backoffDelay(attempt));
        if (attempt >= TRANSITION_TRIES) throw new TransientError('batch get jobs: keys left unprocessed');
        let out: BatchGetCommandOutput;
        try {
          out = await this.client.send(
            new BatchGetCommand({
              RequestItems: { [this.tableName]: { Keys: pending, ConsistentRead: true } },
            }),
          );
        } catch (error) {
          rethrowSdkError(error, 'batch get jobs');
        }
        jobs.push(...(out.Responses?.[this.tableName] ?? []).map(fromItem));
        pending = out.UnprocessedKeys?.[this.tableName]?.Keys;
      }
    }
    return jobs;
  }
}
