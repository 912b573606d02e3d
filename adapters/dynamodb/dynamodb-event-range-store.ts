import {
  BatchGetCommand,
  type DynamoDBDocumentClient,
  PutCommand,
  QueryCommand,
  type QueryCommandOutput,
} from '@aws-sdk/lib-dynamodb';
import { TransientError } from '#core/errors.ts';
import type { RangeRecord, RecordedRangeState } from '#core/event-ranges/event-range.ts';
import type { EventRangeStore, RangeExpectation, RangeWrite } from '#core/event-ranges/ports.ts';
import { backoffDelay, mapBounded, sleep } from '../concurrency.ts';
import { errorName, rethrowSdkError } from '../sdk-errors.ts';

const CONDITION_FAILED = 'ConditionalCheckFailedException';
/** Range writes of one call in flight at once (a report carries up to a few hundred). */
const WRITES_IN_FLIGHT = 16;
const BATCH_GET_MAX = 100;
const BATCH_TRIES = 8;
/** Pages (1 MB each) a listing by state reads at most, so that a request answers in seconds. */
const FILTERED_PAGES = 8;

type Item = Record<string, unknown>;

function fromItem(item: Item): RangeRecord {
  return item as unknown as RangeRecord;
}

/** The condition of one range write: any of the expectations holds. */
export function rangeWriteCondition(expected: RangeExpectation[]): {
  ConditionExpression: string;
  ExpressionAttributeNames?: Record<string, string>;
  ExpressionAttributeValues?: Item;
} {
  const names: Record<string, string> = {};
  const values: Item = {};
  const alternatives = expected.map((e, i) => {
    if (e === 'absent') return 'attribute_not_exists(taskId)';
    names['#state'] = 'state';
    names['#attempt'] = 'attempt';
    values[`:s${i}`] = e.state;
    values[`:a${i}`] = e.attemptAtMost;
    return `(#state = :s${i} AND #attempt <= :a${i})`;
  });
  // DynamoDB refuses empty or unused names and values (an expectation of 'absent' alone).
  return {
    ConditionExpression: alternatives.join(' OR '),
    ...(Object.keys(names).length > 0 ? { ExpressionAttributeNames: names } : {}),
    ...(Object.keys(values).length > 0 ? { ExpressionAttributeValues: values } : {}),
  };
}

/**
 * Event-range records (pk taskId, sk rangeIndex). A write puts the whole record (ranges are small)
 * on the condition of its expectations: one conditional PutItem each, no transaction, no index.
 */
export class DynamoDbEventRangeStore implements EventRangeStore {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;

  constructor(client: DynamoDBDocumentClient, tableName: string) {
    this.client = client;
    this.tableName = tableName;
  }

  async write(writes: RangeWrite[]): Promise<Array<'ok' | 'conflict'>> {
    return mapBounded(writes, WRITES_IN_FLIGHT, async ({ record, expected }) => {
      try {
        await this.client.send(
          new PutCommand({ TableName: this.tableName, Item: record, ...rangeWriteCondition(expected) }),
        );
        return 'ok';
      } catch (error) {
        if (errorName(error) === CONDITION_FAILED) return 'conflict';
        rethrowSdkError(error, `write range ${record.taskId}.${record.rangeIndex}`);
      }
    });
  }

  async getMany(taskId: string, rangeIndexes: number[]): Promise<RangeRecord[]> {
    const unique = [...new Set(rangeIndexes)];
    const chunks: number[][] = [];
    for (let i = 0; i < unique.length; i += BATCH_GET_MAX) chunks.push(unique.slice(i, i + BATCH_GET_MAX));
    const found = await mapBounded(chunks, 4, async (chunk) => {
      const records: RangeRecord[] = [];
      let pending: Item[] = chunk.map((rangeIndex) => ({ taskId, rangeIndex }));
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt >= BATCH_TRIES) throw new TransientError('get ranges: keys left unprocessed');
        if (attempt > 0) await sleep(backoffDelay(attempt));
        try {
          const out = await this.client.send(
            new BatchGetCommand({
              RequestItems: { [this.tableName]: { Keys: pending, ConsistentRead: true } },
            }),
          );
          records.push(...(out.Responses?.[this.tableName] ?? []).map(fromItem));
          pending = out.UnprocessedKeys?.[this.tableName]?.Keys ?? [];
        } catch (error) {
          rethrowSdkError(error, 'get ranges');
        }
      }
      return records;
    });
    // BatchGetItem answers in no particular order.
    return found.flat().sort((a, b) => a.rangeIndex - b.rangeIndex);
  }

  /**
   * Reads one record past `limit` to know whether more follow. A listing by state filters after the
   * read, so it reads whole pages (1 MB) and stops after FILTERED_PAGES of them: an answer can then
   * hold fewer than `limit` records with a `next` past the part read.
   */
  async list(
    taskId: string,
    fromIndex: number,
    limit: number,
    state?: RecordedRangeState,
  ): Promise<{ records: RangeRecord[]; next?: number }> {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`list limit ${limit} is not a positive integer`);
    const records: RangeRecord[] = [];
    let startKey: Item | undefined;
    let pages = 0;
    try {
      do {
        const out: QueryCommandOutput = await this.client.send(
          new QueryCommand({
            TableName: this.tableName,
            KeyConditionExpression: 'taskId = :t AND rangeIndex >= :from',
            ...(state === undefined
              ? {
                  ExpressionAttributeValues: { ':t': taskId, ':from': fromIndex },
                  Limit: limit + 1 - records.length,
                }
              : {
                  FilterExpression: '#state = :state',
                  ExpressionAttributeNames: { '#state': 'state' },
                  ExpressionAttributeValues: { ':t': taskId, ':from': fromIndex, ':state': state },
                }),
            ConsistentRead: true,
            ExclusiveStartKey: startKey,
          }),
        );
        records.push(...(out.Items ?? []).map(fromItem));
        startKey = out.LastEvaluatedKey;
        pages++;
      } while (
        startKey !== undefined &&
        records.length <= limit &&
        (state === undefined || pages < FILTERED_PAGES)
      );
    } catch (error) {
      rethrowSdkError(error, 'list ranges');
    }
    if (records.length > limit) {
      records.length = limit;
      return { records, next: (records.at(-1) as RangeRecord).rangeIndex + 1 };
    }
    if (startKey === undefined) return { records };
    return { records, next: (startKey.rangeIndex as number) + 1 };
  }
}
