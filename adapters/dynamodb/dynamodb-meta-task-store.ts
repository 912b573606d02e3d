import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandOutput,
} from '@aws-sdk/lib-dynamodb';
import type { Page, PageRequest } from '#core/api/common.ts';
import { ConflictError } from '#core/errors.ts';
import type { MetaTask } from '#core/meta-tasks/meta-task.ts';
import type { MetaTaskStore } from '#core/meta-tasks/ports.ts';
import { errorName, rethrowSdkError } from '../sdk-errors.ts';
import { decodePageToken, encodePageToken } from './page-token.ts';
import { INDEX, TASK_SK } from './tables.ts';

const CONDITION_FAILED = 'ConditionalCheckFailedException';

/** The partition key of a meta-task's item in the tasks table (no task id starts so). */
export function metaTaskPk(metaTaskId: string): string {
  return `meta#${metaTaskId}`;
}

/**
 * The byOwner index key of an owner's meta-tasks: `meta#<owner>`, so the owner's task listing
 * (owner = `<sub>`) never meets them and theirs never meets tasks.
 */
export function metaTaskOwnerKey(owner: string): string {
  return `meta#${owner}`;
}

/**
 * Meta-tasks as one item each in the tasks table (pk `meta#<id>`, sk `meta`): spec, nodes, wait
 * token. Every write after the first is conditional on the version read (optimistic locking).
 * The item's sk is not a head's, so the task events feed filters it out.
 */
export class DynamoDbMetaTaskStore implements MetaTaskStore {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;

  constructor(client: DynamoDBDocumentClient, tableName: string) {
    this.client = client;
    this.tableName = tableName;
  }

  private itemOf(m: MetaTask): Record<string, unknown> {
    const { owner, ...rest } = m;
    return {
      ...rest,
      taskId: metaTaskPk(m.metaTaskId),
      sk: TASK_SK.metaTask,
      owner: metaTaskOwnerKey(owner),
      metaOwner: owner,
    };
  }

  private fromItem(item: Record<string, unknown>): MetaTask {
    const { taskId: _pk, sk: _sk, owner: _ownerKey, metaOwner, ...rest } = item;
    return { ...(rest as Omit<MetaTask, 'owner'>), owner: metaOwner as string };
  }

  async create(metaTask: MetaTask): Promise<void> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: this.itemOf(metaTask),
          ConditionExpression: 'attribute_not_exists(taskId)',
        }),
      );
    } catch (error) {
      if (errorName(error) === CONDITION_FAILED)
        throw new ConflictError(`meta-task ${metaTask.metaTaskId} exists`);
      rethrowSdkError(error, `create meta-task ${metaTask.metaTaskId}`);
    }
  }

  async get(metaTaskId: string): Promise<MetaTask | undefined> {
    try {
      const out = await this.client.send(
        new GetCommand({
          TableName: this.tableName,
          Key: { taskId: metaTaskPk(metaTaskId), sk: TASK_SK.metaTask },
          ConsistentRead: true,
        }),
      );
      return out.Item === undefined ? undefined : this.fromItem(out.Item);
    } catch (error) {
      rethrowSdkError(error, `read meta-task ${metaTaskId}`);
    }
  }

  async update(metaTask: MetaTask): Promise<boolean> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: this.itemOf(metaTask),
          ConditionExpression: 'version = :seen',
          ExpressionAttributeValues: { ':seen': metaTask.version - 1 },
        }),
      );
      return true;
    } catch (error) {
      if (errorName(error) === CONDITION_FAILED) return false;
      rethrowSdkError(error, `update meta-task ${metaTask.metaTaskId}`);
    }
  }

  async listByOwner(owner: string, page: PageRequest): Promise<Page<MetaTask>> {
    const ownerKey = metaTaskOwnerKey(owner);
    const startKey = decodePageToken(
      page.nextToken,
      { taskId: 'S', sk: 'S', owner: 'S', createdAt: 'S' },
      { owner: ownerKey, sk: TASK_SK.metaTask },
    );
    let out: QueryCommandOutput;
    try {
      out = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: INDEX.tasksByOwner,
          KeyConditionExpression: '#owner = :o',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':o': ownerKey },
          ScanIndexForward: false,
          Limit: page.limit,
          ExclusiveStartKey: startKey,
        }),
      );
    } catch (error) {
      rethrowSdkError(error, 'list meta-tasks');
    }
    return {
      items: (out.Items ?? []).map((i) => this.fromItem(i)),
      ...(out.LastEvaluatedKey === undefined ? {} : { nextToken: encodePageToken(out.LastEvaluatedKey) }),
    };
  }
}
