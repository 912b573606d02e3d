import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandOutput,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { DispatchEntry, PolicyStore, StoredShares } from '#core/policies/ports.ts';
import type { Decayed, ShareTree } from '#core/policies/shares.ts';
import { errorName, rethrowSdkError } from '../sdk-errors.ts';
import { batchPut } from './batch-put.ts';

const isConditionalCheckFailed = (error: unknown) => errorName(error) === 'ConditionalCheckFailedException';

/** Partitions of the policies table used here, and the item of the current share tree. */
const PK = { dispatch: 'dispatch', shares: 'shares', usage: 'usage', lock: 'lock' } as const;
const CURRENT = 'current';

/**
 * The policies table (pk policy, sk key): `dispatch` holds one item per task in dispatch (sk the
 * task id), `shares` the share tree's versions (sk `v<000001>`, plus `current`), `usage` the
 * decayed usage per user and group (sk the usage key). Each partition is small and read whole.
 */
export class DynamoDbPolicyStore implements PolicyStore {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;

  constructor(client: DynamoDBDocumentClient, tableName: string) {
    this.client = client;
    this.tableName = tableName;
  }

  async activate(entry: DispatchEntry): Promise<void> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { policy: PK.dispatch, key: entry.taskId, ...entry },
          ConditionExpression: 'attribute_not_exists(#k)',
          ExpressionAttributeNames: { '#k': 'key' },
        }),
      );
    } catch (error) {
      if (isConditionalCheckFailed(error)) return;
      rethrowSdkError(error, 'activate task for dispatch');
    }
  }

  async listActive(): Promise<DispatchEntry[]> {
    const items = await this.queryAll(PK.dispatch, 'list tasks in dispatch');
    return items.map(({ policy: _p, key: _k, ...entry }) => entry as unknown as DispatchEntry);
  }

  async advance(taskId: string, from: number, to: number): Promise<'ok' | 'conflict'> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { policy: PK.dispatch, key: taskId },
          UpdateExpression: 'SET released = :to',
          ConditionExpression: 'released = :from',
          ExpressionAttributeValues: { ':from': from, ':to': to },
        }),
      );
      return 'ok';
    } catch (error) {
      if (isConditionalCheckFailed(error)) return 'conflict';
      rethrowSdkError(error, 'advance dispatch of task');
    }
  }

  async steerActive(taskId: string, change: { paused?: boolean; priority?: number }): Promise<void> {
    const fields = Object.entries(change).filter(([, v]) => v !== undefined);
    if (fields.length === 0) return;
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { policy: PK.dispatch, key: taskId },
          UpdateExpression: `SET ${fields.map((_, i) => `#f${i} = :f${i}`).join(', ')}`,
          ConditionExpression: 'attribute_exists(#k)',
          ExpressionAttributeNames: {
            '#k': 'key',
            ...Object.fromEntries(fields.map(([n], i) => [`#f${i}`, n])),
          },
          ExpressionAttributeValues: Object.fromEntries(fields.map(([, v], i) => [`:f${i}`, v])),
        }),
      );
    } catch (error) {
      // A task not (or no longer) in dispatch has nothing to carry the change to.
      if (isConditionalCheckFailed(error)) return;
      rethrowSdkError(error, 'steer task in dispatch');
    }
  }

  async extendActive(
    taskId: string,
    { jobCount, memoryMB }: { jobCount: number; memoryMB: number },
  ): Promise<void> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { policy: PK.dispatch, key: taskId },
          UpdateExpression: 'SET jobCount = :n, memoryMB = :m',
          ConditionExpression: 'attribute_exists(#k) AND jobCount < :n',
          ExpressionAttributeNames: { '#k': 'key' },
          ExpressionAttributeValues: { ':n': jobCount, ':m': memoryMB },
        }),
      );
    } catch (error) {
      // Grown already (a replayed step), or the task left dispatch: nothing to do.
      if (isConditionalCheckFailed(error)) return;
      rethrowSdkError(error, 'extend task in dispatch');
    }
  }

  async acquireDispatch(holder: string, now: number, expiresAt: number): Promise<'acquired' | 'busy'> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { policy: PK.lock, key: PK.dispatch, holder, expiresAt },
          ConditionExpression: 'attribute_not_exists(#k) OR expiresAt < :now',
          ExpressionAttributeNames: { '#k': 'key' },
          ExpressionAttributeValues: { ':now': now },
        }),
      );
      return 'acquired';
    } catch (error) {
      if (!isConditionalCheckFailed(error)) rethrowSdkError(error, 'take the dispatch lock');
    }
    try {
      // Held: ask the holder for one more round.
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { policy: PK.lock, key: PK.dispatch },
          UpdateExpression: 'SET again = :t',
          ConditionExpression: 'attribute_exists(#k)',
          ExpressionAttributeNames: { '#k': 'key' },
          ExpressionAttributeValues: { ':t': true },
        }),
      );
    } catch (error) {
      // Released meanwhile: the next scheduled round serves what this one came for.
      if (!isConditionalCheckFailed(error)) rethrowSdkError(error, 'ask for another dispatch round');
    }
    return 'busy';
  }

  async releaseDispatch(holder: string, expiresAt: number): Promise<'released' | 'again'> {
    try {
      await this.client.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { policy: PK.lock, key: PK.dispatch },
          ConditionExpression: 'holder = :h AND attribute_not_exists(again)',
          ExpressionAttributeValues: { ':h': holder },
        }),
      );
      return 'released';
    } catch (error) {
      if (!isConditionalCheckFailed(error)) rethrowSdkError(error, 'release the dispatch lock');
    }
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { policy: PK.lock, key: PK.dispatch },
          UpdateExpression: 'REMOVE again SET expiresAt = :e',
          ConditionExpression: 'holder = :h',
          ExpressionAttributeValues: { ':h': holder, ':e': expiresAt },
        }),
      );
      return 'again';
    } catch (error) {
      // No longer ours (it expired and another round took it): that round serves what was asked.
      if (isConditionalCheckFailed(error)) return 'released';
      rethrowSdkError(error, 'keep the dispatch lock for another round');
    }
  }

  async deactivate(taskId: string): Promise<void> {
    try {
      await this.client.send(
        new DeleteCommand({ TableName: this.tableName, Key: { policy: PK.dispatch, key: taskId } }),
      );
    } catch (error) {
      rethrowSdkError(error, 'remove task from dispatch');
    }
  }

  async getShares(): Promise<StoredShares | undefined> {
    try {
      const out = await this.client.send(
        new GetCommand({
          TableName: this.tableName,
          Key: { policy: PK.shares, key: CURRENT },
          ConsistentRead: true,
        }),
      );
      if (out.Item === undefined) return undefined;
      const { tree, version, updatedAt, updatedBy } = out.Item as StoredShares;
      return { tree, version, updatedAt, updatedBy };
    } catch (error) {
      rethrowSdkError(error, 'get shares');
    }
  }

  /** The version item and the current item in one transaction, fenced on the version replaced. */
  async putShares(
    tree: ShareTree,
    change: { expectedVersion: number; at: string; by: string },
  ): Promise<'ok' | 'conflict'> {
    const version = change.expectedVersion + 1;
    const stored: StoredShares = { tree, version, updatedAt: change.at, updatedBy: change.by };
    try {
      await this.client.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.tableName,
                Item: { policy: PK.shares, key: `v${String(version).padStart(6, '0')}`, ...stored },
                ConditionExpression: 'attribute_not_exists(#k)',
                ExpressionAttributeNames: { '#k': 'key' },
              },
            },
            {
              Put: {
                TableName: this.tableName,
                Item: { policy: PK.shares, key: CURRENT, ...stored },
                ...(change.expectedVersion === 0
                  ? {
                      ConditionExpression: 'attribute_not_exists(#k)',
                      ExpressionAttributeNames: { '#k': 'key' },
                    }
                  : {
                      ConditionExpression: 'version = :expected',
                      ExpressionAttributeValues: { ':expected': change.expectedVersion },
                    }),
              },
            },
          ],
        }),
      );
      return 'ok';
    } catch (error) {
      if ((error as Error).name === 'TransactionCanceledException') return 'conflict';
      rethrowSdkError(error, 'put shares');
    }
  }

  async usage(): Promise<Map<string, Decayed>> {
    const items = await this.queryAll(PK.usage, 'read usage');
    return new Map(
      items.map((item) => [item.key as string, { value: item.value as number, at: item.at as number }]),
    );
  }

  async putUsage(values: Array<{ key: string } & Decayed>): Promise<void> {
    await batchPut(
      this.client,
      this.tableName,
      values.map((v) => ({ policy: PK.usage, key: v.key, value: v.value, at: v.at })),
      'write usage',
    );
  }

  private async queryAll(policy: string, what: string): Promise<Array<Record<string, unknown>>> {
    const items: Array<Record<string, unknown>> = [];
    let startKey: Record<string, unknown> | undefined;
    try {
      do {
        const out: QueryCommandOutput = await this.client.send(
          new QueryCommand({
            TableName: this.tableName,
            KeyConditionExpression: '#p = :p',
            ExpressionAttributeNames: { '#p': 'policy' },
            ExpressionAttributeValues: { ':p': policy },
            ConsistentRead: true,
            ExclusiveStartKey: startKey,
          }),
        );
        items.push(...(out.Items ?? []));
        startKey = out.LastEvaluatedKey;
      } while (startKey !== undefined);
    } catch (error) {
      rethrowSdkError(error, what);
    }
    return items;
  }
}
