/** Fresh tables and their streams, read from the start, for the change feed tests. */
import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  type DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
} from '@aws-sdk/client-dynamodb-streams';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, expect } from 'vitest';
import { dynamoDbClient, dynamoDbDocumentClient, dynamoDbStreamsClient } from '#adapters/aws-clients.ts';
import type { TableKey, TableNames } from '#adapters/dynamodb/tables.ts';
import { uniquePrefix, useStandInsEnv } from '#test/support/stand-ins-env.ts';
import { freshTables } from '../fixtures.ts';

export interface StreamTables {
  tables: TableNames;
  rawDb: DynamoDBClient;
  db: DynamoDBDocumentClient;
  streams: DynamoDBStreamsClient;
}

/** Registers the file's setup and teardown; the object returned is filled before the tests run. */
export function useStreamTables(prefix: string): StreamTables {
  const context = {} as StreamTables;
  let restoreEnv: (() => void) | undefined;
  beforeAll(async () => {
    restoreEnv = useStandInsEnv();
    context.tables = await freshTables(uniquePrefix(prefix));
    context.rawDb = dynamoDbClient();
    context.db = dynamoDbDocumentClient(context.rawDb);
    context.streams = dynamoDbStreamsClient();
  });
  afterAll(() => {
    context.db?.destroy();
    context.rawDb?.destroy();
    context.streams?.destroy();
    restoreEnv?.();
  });
  return context;
}

/** Every record of the table's stream so far, as one Lambda event per shard. */
export async function streamEvents(
  { rawDb, streams, tables }: StreamTables,
  table: TableKey,
): Promise<Array<{ shardId: string; Records: unknown[] }>> {
  const described = await rawDb.send(new DescribeTableCommand({ TableName: tables[table] }));
  const streamArn = described.Table?.LatestStreamArn as string;
  const stream = await streams.send(new DescribeStreamCommand({ StreamArn: streamArn }));
  const events: Array<{ shardId: string; Records: unknown[] }> = [];
  for (const shard of stream.StreamDescription?.Shards ?? []) {
    const shardId = shard.ShardId as string;
    const start = await streams.send(
      new GetShardIteratorCommand({
        StreamArn: streamArn,
        ShardId: shardId,
        ShardIteratorType: 'TRIM_HORIZON',
      }),
    );
    const page = await streams.send(
      new GetRecordsCommand({ ShardIterator: start.ShardIterator, Limit: 1000 }),
    );
    const records = (page.Records ?? []).map((r) => ({
      eventID: r.eventID,
      eventName: r.eventName,
      eventSource: 'aws:dynamodb',
      awsRegion: r.awsRegion,
      eventSourceARN: streamArn,
      dynamodb: r.dynamodb,
    }));
    if (records.length > 0) events.push({ shardId, Records: records });
  }
  return events;
}

/**
 * Checks the changes of one record's creation, change and deletion: before and after as
 * `expected`, all in the feed of the first event's shard, in sequence order.
 */
export function expectCreateChangeDelete<R>(
  changes: Array<{ feed: string; seq: string; before?: R; after?: R }>,
  events: Array<{ shardId: string }>,
  [first, second]: [R, R],
): void {
  expect(changes.map(({ before, after }) => ({ before, after }))).toEqual([
    { before: undefined, after: first },
    { before: first, after: second },
    { before: second, after: undefined },
  ]);
  expect(changes.every((c) => c.feed === events[0]?.shardId)).toBe(true);
  const seqs = changes.map((c) => BigInt(c.seq));
  expect([...seqs].sort((a, b) => (a < b ? -1 : 1))).toEqual(seqs);
  expect(changes[0]).not.toHaveProperty('before');
  expect(changes[2]).not.toHaveProperty('after');
}
