import {
  type DynamoDBDocumentClient,
  PutCommand,
  QueryCommand,
  type QueryCommandOutput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { Page } from '#core/api/contract.ts';
import { ConflictError, NotFoundError } from '#core/errors.ts';
import type { PageRequest, TaskStore } from '#core/ports.ts';
import type { Task, TaskState, TaskStateChange } from '#core/tasks/task.ts';
import { FINAL_TASK_STATES, isFinalTaskState } from '#core/tasks/task.ts';
import { TASK_TRANSITIONS, type TaskEvent } from '#core/tasks/transitions.ts';
import { mapBounded } from '../concurrency.ts';
import { errorName, rethrowSdkError } from '../sdk-errors.ts';
import { COUNTER_SK_PREFIX, counterSk, deriveJobCounts, TASK_SK } from './keys.ts';
import { decodePageToken, encodePageToken } from './page-token.ts';
import { COUNTER_SHARDS, INDEX } from './tables.ts';

const CONDITION_FAILED = 'ConditionalCheckFailedException';
/** Tasks of a listing whose counters are read at once. */
const COUNTER_READS_IN_FLIGHT = 10;

type Item = Record<string, unknown>;

/** The task item minus what is derived (counts) plus its key and workflow-token attributes. */
function toItem(task: Task): Item {
  const { counts: _derived, ...rest } = task;
  return { ...rest, sk: TASK_SK };
}

/** The domain task from the task item and its counter items; key-only attributes are dropped. */
function fromItems(taskItem: Item, counterItems: Item[]): Task {
  const { sk: _sk, waitToken: _token, waitReleased: _released, ...rest } = taskItem;
  const task = rest as unknown as Omit<Task, 'counts'>;
  return {
    ...task,
    cancelRequested: task.cancelRequested === true,
    counts: deriveJobCounts(task, counterItems),
  };
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

/**
 * Tasks in the tasks table: the task item (sk `task`) and its sharded job counters
 * (sk `counts#NN`, written by DynamoDbJobStore.transition in the same transaction as the job).
 */
export class DynamoDbTaskStore implements TaskStore {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;

  constructor(client: DynamoDBDocumentClient, tableName: string) {
    this.client = client;
    this.tableName = tableName;
  }

  async create(task: Task): Promise<void> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: toItem(task),
          ConditionExpression: 'attribute_not_exists(taskId)',
        }),
      );
    } catch (error) {
      if (errorName(error) === CONDITION_FAILED)
        throw new ConflictError(`task ${task.taskId} already exists`);
      rethrowSdkError(error, 'create task');
    }
  }

  /** One strongly consistent Query: the task item and all its counter items. */
  async get(taskId: string): Promise<Task | undefined> {
    const items: Item[] = [];
    let startKey: Item | undefined;
    try {
      do {
        const out: QueryCommandOutput = await this.client.send(
          new QueryCommand({
            TableName: this.tableName,
            KeyConditionExpression: 'taskId = :t',
            ExpressionAttributeValues: { ':t': taskId },
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
    const taskItem = items.find((i) => i.sk === TASK_SK);
    if (taskItem === undefined) return undefined;
    return fromItems(
      taskItem,
      items.filter((i) => typeof i.sk === 'string' && i.sk.startsWith(COUNTER_SK_PREFIX)),
    );
  }

  async listByOwner(owner: string, page: PageRequest): Promise<Page<Task>> {
    const startKey = decodePageToken(
      page.nextToken,
      { taskId: 'S', sk: 'S', owner: 'S', createdAt: 'S' },
      { owner, sk: TASK_SK },
    );
    let out: QueryCommandOutput;
    try {
      out = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: INDEX.tasksByOwner,
          KeyConditionExpression: '#owner = :o',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':o': owner },
          ScanIndexForward: false,
          Limit: page.limit,
          ExclusiveStartKey: startKey,
        }),
      );
    } catch (error) {
      rethrowSdkError(error, 'list tasks');
    }
    const items = (out.Items ?? []).filter((i) => i.sk === TASK_SK);
    const tasks = await mapBounded(items, COUNTER_READS_IN_FLIGHT, async (item) =>
      fromItems(item, await this.counterItems(String(item.taskId))),
    );
    return { items: tasks, nextToken: encodePageToken(out.LastEvaluatedKey) };
  }

  private async counterItems(taskId: string): Promise<Item[]> {
    try {
      const out = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'taskId = :t AND begins_with(sk, :c)',
          ExpressionAttributeValues: { ':t': taskId, ':c': COUNTER_SK_PREFIX },
          ConsistentRead: true,
        }),
      );
      return out.Items ?? [];
    } catch (error) {
      rethrowSdkError(error, 'read task counters');
    }
  }

  async transition(
    taskId: string,
    event: TaskEvent,
    change: { at: string; reason?: string; jobCount?: number; siteIds?: string[] },
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
    if (change.jobCount !== undefined) {
      sets.push('jobCount = :jobCount');
      values[':jobCount'] = change.jobCount;
    }
    if (change.siteIds !== undefined) {
      sets.push('siteIds = :siteIds');
      values[':siteIds'] = change.siteIds;
    }
    if (isFinalTaskState(to)) sets.push('endedAt = :at');
    const fromNames = from.map((_, i) => `:from${i}`);
    from.forEach((state, i) => {
      values[`:from${i}`] = state;
    });
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { taskId, sk: TASK_SK },
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: `#state IN (${fromNames.join(', ')})`,
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

  async recordEnqueued(taskId: string, jobsEnqueued: number, at: string): Promise<void> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { taskId, sk: TASK_SK },
          UpdateExpression: 'SET jobsEnqueued = :n, updatedAt = :at',
          ConditionExpression: 'attribute_exists(taskId) AND jobsEnqueued < :n',
          ExpressionAttributeValues: { ':n': jobsEnqueued, ':at': at },
        }),
      );
    } catch (error) {
      // Already at or past this point (a replayed page), or no such task: nothing to move forward.
      if (errorName(error) === CONDITION_FAILED) return;
      rethrowSdkError(error, 'record enqueued jobs');
    }
  }

  async requestCancel(taskId: string, at: string): Promise<TaskState | undefined> {
    const finals = [...FINAL_TASK_STATES];
    const values: Item = { ':true': true, ':at': at };
    finals.forEach((state, i) => {
      values[`:final${i}`] = state;
    });
    try {
      const out = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { taskId, sk: TASK_SK },
          // `#state = #state` only makes UPDATED_NEW return the state.
          UpdateExpression: 'SET cancelRequested = :true, updatedAt = :at, #state = #state',
          ConditionExpression: `attribute_exists(taskId) AND NOT (#state IN (${finals.map((_, i) => `:final${i}`).join(', ')}))`,
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: values,
          ReturnValues: 'UPDATED_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      await this.flagCounterShards(taskId);
      return out.Attributes?.state as TaskState | undefined;
    } catch (error) {
      // No task (no item returned) or a final one (its state returned).
      if (errorName(error) === CONDITION_FAILED) return stateOfFailedItem(error);
      rethrowSdkError(error, 'request task cancel');
    }
  }

  /**
   * The cancel flag is copied onto every counter shard: a claim's transaction already updates its
   * job's shard, and conditions that update on the flag, so refusing claims of a cancelled task
   * costs no extra read of the (large) task item per claim.
   */
  private async flagCounterShards(taskId: string): Promise<void> {
    await mapBounded(
      Array.from({ length: COUNTER_SHARDS }, (_, shard) => shard),
      COUNTER_SHARDS,
      (shard) =>
        this.client.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: { taskId, sk: counterSk(shard) },
            UpdateExpression: 'SET cancelRequested = :true',
            ExpressionAttributeValues: { ':true': true },
          }),
        ),
    );
  }

  async storeWaitToken(taskId: string, token: string): Promise<void> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { taskId, sk: TASK_SK },
          // Storing the same token again (a redelivered wait step) must not re-arm a taken token;
          // a new token (a restarted execution) must.
          UpdateExpression: 'SET waitToken = :token REMOVE waitReleased',
          ConditionExpression:
            'attribute_exists(taskId) AND (attribute_not_exists(waitToken) OR waitToken <> :token)',
          ExpressionAttributeValues: { ':token': token },
        }),
      );
    } catch (error) {
      if (errorName(error) === CONDITION_FAILED) {
        if ((await this.get(taskId)) === undefined) throw new NotFoundError(`task ${taskId} not found`);
        return;
      }
      rethrowSdkError(error, 'store wait token');
    }
  }

  async takeWaitToken(taskId: string): Promise<string | undefined> {
    try {
      const out = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { taskId, sk: TASK_SK },
          // `waitToken = waitToken` only makes UPDATED_NEW return the token.
          UpdateExpression: 'SET waitReleased = :true, waitToken = waitToken',
          ConditionExpression: 'attribute_exists(waitToken) AND attribute_not_exists(waitReleased)',
          ExpressionAttributeValues: { ':true': true },
          ReturnValues: 'UPDATED_NEW',
        }),
      );
      const token = out.Attributes?.waitToken;
      return typeof token === 'string' ? token : undefined;
    } catch (error) {
      if (errorName(error) === CONDITION_FAILED) return undefined;
      rethrowSdkError(error, 'take wait token');
    }
  }
}
