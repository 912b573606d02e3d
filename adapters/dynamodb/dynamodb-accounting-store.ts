import { createHash } from 'node:crypto';
import {
  BatchGetCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  type QueryCommandOutput,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { AccountingStore } from '#core/accounting/ports.ts';
import {
  ACCOUNTING_BY,
  type AccountingBy,
  addDays,
  daysBetween,
  type RollupDelta,
  type RollupRow,
  rollupDeltaOf,
  rollupKeyOf,
  type TaskCost,
  type UsageRecord,
  usageKeyOf,
} from '#core/accounting/usage.ts';
import { TransientError } from '#core/errors.ts';
import { backoffDelay, mapBounded, sleep } from '../concurrency.ts';
import { errorName, rethrowSdkError } from '../sdk-errors.ts';

/**
 * Partitions a day's usage records are spread over: a day's writes (every attempt end of the
 * system) would otherwise go to one partition key, and reading a day back is this many queries.
 */
export const USAGE_SHARDS = 16;
const BATCH_GET_MAX = 100;
/** Tries of one record's transaction when another writer holds a roll-up item at the same moment. */
const TRANSACTION_TRIES = 8;

const usagePk = (day: string, shard: number) => `usage#${day}#${String(shard).padStart(2, '0')}`;
const rollupPk = (by: AccountingBy) => `rollup#${by}`;
/** Days are fixed-width, so the key is what follows `<day>#`. */
const rollupSk = (day: string, key: string) => `${day}#${key}`;
/** A task's cost total: one item per task (only tasks with a costed attempt have one). */
const taskCostKey = (taskId: string) => ({ pk: `cost#${taskId}`, sk: 'task' });

/** A task's records all go to one shard (chosen by its id): stable across replays. */
function shardOf(taskId: string): number {
  return createHash('sha256').update(taskId).digest().readUInt16BE(0) % USAGE_SHARDS;
}

/**
 * The accounting table (pk, sk): usage records under `usage#<day>#<shard>` and roll-ups under
 * `rollup#<by>` (adapters/dynamodb/tables.ts), and each task's cost total under `cost#<taskId>`. A
 * record and its three roll-up additions (and, for a record with a cost, the addition to its task's
 * total) are one transaction whose record put is conditioned on the record not existing, so a
 * replay adds nothing.
 */
export class DynamoDbAccountingStore implements AccountingStore {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;

  constructor(client: DynamoDBDocumentClient, tableName: string) {
    this.client = client;
    this.tableName = tableName;
  }

  async record(usage: UsageRecord): Promise<'recorded' | 'duplicate'> {
    const delta = rollupDeltaOf(usage);
    const rollups = ACCOUNTING_BY.map((by) => ({
      pk: rollupPk(by),
      sk: rollupSk(usage.day, rollupKeyOf(usage, by)),
      key: rollupKeyOf(usage, by),
    }));
    let outcome: 'recorded' | 'duplicate' | undefined;
    for (let attempt = 0; outcome === undefined; attempt++) {
      if (attempt >= TRANSACTION_TRIES)
        throw new TransientError('record usage: roll-ups busy (transaction conflicts)');
      if (attempt > 0) await sleep(backoffDelay(attempt));
      outcome = await this.tryRecord(usage, delta, rollups);
    }
    // The largest memory is not an addition: a max is written apart, only where it grows, and is
    // safe to write again, so it is written after a replay too (a crash may have come between).
    if (usage.maxRssMB > 0) {
      await Promise.all(rollups.map((rollup) => this.raiseMaxRss(rollup, usage.maxRssMB)));
    }
    return outcome;
  }

  /** One transaction; undefined when it lost a race with another writer (try again). */
  private async tryRecord(
    usage: UsageRecord,
    delta: RollupDelta,
    rollups: Array<{ pk: string; sk: string; key: string }>,
  ): Promise<'recorded' | 'duplicate' | undefined> {
    const { maxRssMB: _max, hs23Sec, costUsd, ...sums } = delta;
    const added = {
      ...sums,
      ...(hs23Sec === undefined ? {} : { hs23Sec }),
      ...(costUsd === undefined ? {} : { costUsd }),
    };
    const names = Object.fromEntries(Object.keys(added).map((field, i) => [`#a${i}`, field]));
    const values = Object.fromEntries(Object.values(added).map((value, i) => [`:a${i}`, value]));
    const addExpression = Object.keys(names)
      .map((name, i) => `${name} :a${i}`)
      .join(', ');
    try {
      await this.client.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.tableName,
                Item: { pk: usagePk(usage.day, shardOf(usage.taskId)), sk: usageKeyOf(usage), ...usage },
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
            ...rollups.map((rollup) => ({
              Update: {
                TableName: this.tableName,
                Key: { pk: rollup.pk, sk: rollup.sk },
                UpdateExpression: `SET #day = :day, #key = :key ADD ${addExpression}`,
                ExpressionAttributeNames: { ...names, '#day': 'day', '#key': 'key' },
                ExpressionAttributeValues: { ...values, ':day': usage.day, ':key': rollup.key },
              },
            })),
            ...(costUsd === undefined
              ? []
              : [
                  {
                    Update: {
                      TableName: this.tableName,
                      Key: taskCostKey(usage.taskId),
                      UpdateExpression: 'ADD usd :usd, attempts :one',
                      ExpressionAttributeValues: { ':usd': costUsd, ':one': 1 },
                    },
                  },
                ]),
          ],
        }),
      );
      return 'recorded';
    } catch (error) {
      if (errorName(error) !== 'TransactionCanceledException') rethrowSdkError(error, 'record usage');
      const reasons = (error as { CancellationReasons?: Array<{ Code?: string }> }).CancellationReasons ?? [];
      if (reasons[0]?.Code === 'ConditionalCheckFailed') return 'duplicate';
      if (reasons.some((r) => r.Code === 'TransactionConflict')) return undefined;
      rethrowSdkError(error, 'record usage');
    }
  }

  private async raiseMaxRss(rollup: { pk: string; sk: string }, maxRssMB: number): Promise<void> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: rollup.pk, sk: rollup.sk },
          UpdateExpression: 'SET maxRssMB = :m',
          ConditionExpression: 'attribute_exists(pk) AND (attribute_not_exists(maxRssMB) OR maxRssMB < :m)',
          ExpressionAttributeValues: { ':m': maxRssMB },
        }),
      );
    } catch (error) {
      if (errorName(error) === 'ConditionalCheckFailedException') return;
      rethrowSdkError(error, 'record usage: largest memory');
    }
  }

  async rollups(by: AccountingBy, range: { from: string; to: string; key?: string }): Promise<RollupRow[]> {
    const items =
      range.key === undefined
        ? await this.queryAll(
            {
              KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
              // A bare day sorts before every `<day>#<key>` of that day: the next day's bounds the range.
              ExpressionAttributeValues: {
                ':pk': rollupPk(by),
                ':from': range.from,
                ':to': addDays(range.to, 1),
              },
            },
            'read roll-ups',
          )
        : await this.getRollups(by, range.from, range.to, range.key);
    return items.map(rowOf).sort((a, b) => a.day.localeCompare(b.day) || a.key.localeCompare(b.key));
  }

  /** One key's roll-ups: one item per day, read by key (a user never reads others' rows). */
  private async getRollups(
    by: AccountingBy,
    from: string,
    to: string,
    key: string,
  ): Promise<Array<Record<string, unknown>>> {
    const keys = Array.from({ length: daysBetween(from, to) }, (_, i) => ({
      pk: rollupPk(by),
      sk: rollupSk(addDays(from, i), key),
    }));
    const chunks: Array<typeof keys> = [];
    for (let i = 0; i < keys.length; i += BATCH_GET_MAX) chunks.push(keys.slice(i, i + BATCH_GET_MAX));
    const found = await mapBounded(chunks, 4, async (chunk) => {
      const items: Array<Record<string, unknown>> = [];
      let pending: Array<Record<string, unknown>> = chunk;
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt >= TRANSACTION_TRIES) throw new TransientError('read roll-ups: keys left unprocessed');
        if (attempt > 0) await sleep(backoffDelay(attempt));
        try {
          const out = await this.client.send(
            new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: pending } } }),
          );
          items.push(...(out.Responses?.[this.tableName] ?? []));
          pending = out.UnprocessedKeys?.[this.tableName]?.Keys ?? [];
        } catch (error) {
          rethrowSdkError(error, 'read roll-ups');
        }
      }
      return items;
    });
    return found.flat();
  }

  async taskCost(taskId: string): Promise<TaskCost> {
    try {
      const out = await this.client.send(
        new GetCommand({ TableName: this.tableName, Key: taskCostKey(taskId), ConsistentRead: true }),
      );
      const item = out.Item ?? {};
      return {
        usd: typeof item.usd === 'number' ? item.usd : 0,
        attempts: typeof item.attempts === 'number' ? item.attempts : 0,
      };
    } catch (error) {
      rethrowSdkError(error, 'read task cost');
    }
  }

  async usageOfDay(day: string): Promise<UsageRecord[]> {
    const shards = Array.from({ length: USAGE_SHARDS }, (_, shard) => shard);
    const found = await mapBounded(shards, 4, (shard) =>
      this.queryAll(
        { KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': usagePk(day, shard) } },
        'read usage records',
      ),
    );
    return found.flat().map(({ pk: _pk, sk: _sk, ...record }) => record as unknown as UsageRecord);
  }

  private async queryAll(
    query: { KeyConditionExpression: string; ExpressionAttributeValues: Record<string, unknown> },
    what: string,
  ): Promise<Array<Record<string, unknown>>> {
    const items: Array<Record<string, unknown>> = [];
    let startKey: Record<string, unknown> | undefined;
    try {
      do {
        const out: QueryCommandOutput = await this.client.send(
          new QueryCommand({ TableName: this.tableName, ...query, ExclusiveStartKey: startKey }),
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

/** A stored roll-up item as a row (a roll-up that never had a memory figure: 0). */
function rowOf(item: Record<string, unknown>): RollupRow {
  const n = (field: string) => (typeof item[field] === 'number' ? (item[field] as number) : 0);
  return {
    day: String(item.day),
    key: String(item.key),
    attempts: n('attempts'),
    finished: n('finished'),
    failed: n('failed'),
    coreSec: n('coreSec'),
    wallSec: n('wallSec'),
    cpuSec: n('cpuSec'),
    ...(typeof item.hs23Sec === 'number' ? { hs23Sec: item.hs23Sec } : {}),
    ...(typeof item.costUsd === 'number' ? { costUsd: item.costUsd } : {}),
    maxRssMB: n('maxRssMB'),
  };
}
