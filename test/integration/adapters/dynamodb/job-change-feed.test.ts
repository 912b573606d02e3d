import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  type DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
} from '@aws-sdk/client-dynamodb-streams';
import { DeleteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dynamoDbClient, dynamoDbDocumentClient, dynamoDbStreamsClient } from '#adapters/aws-clients.ts';
import { DynamoDbJobStore } from '#adapters/dynamodb/dynamodb-job-store.ts';
import { jobChangesOf } from '#adapters/dynamodb/job-change-feed.ts';
import type { TableNames } from '#adapters/dynamodb/tables.ts';
import { ValidationError } from '#core/errors.ts';
import type { Attempt } from '#core/jobs/job.ts';
import { uniquePrefix, useStandInsEnv } from '#test/support/stand-ins-env.ts';
import { freshTables, newTaskId, runningRecord } from '../fixtures.ts';

let restoreEnv: () => void;
let tables: TableNames;
let rawDb: DynamoDBClient;
let db: DynamoDBDocumentClient;
let streams: DynamoDBStreamsClient;
let jobs: DynamoDbJobStore;

beforeAll(async () => {
  restoreEnv = useStandInsEnv();
  tables = await freshTables(uniquePrefix('it-feed-'));
  rawDb = dynamoDbClient();
  db = dynamoDbDocumentClient(rawDb);
  streams = dynamoDbStreamsClient();
  jobs = new DynamoDbJobStore(db, { jobs: tables.jobs, attempts: tables.attempts });
});

afterAll(() => {
  db?.destroy();
  rawDb?.destroy();
  streams?.destroy();
  restoreEnv?.();
});

/** Every record of the jobs table's stream so far, as one Lambda event per shard. */
async function streamEvents(): Promise<Array<{ shardId: string; Records: unknown[] }>> {
  const table = await rawDb.send(new DescribeTableCommand({ TableName: tables.jobs }));
  const streamArn = table.Table?.LatestStreamArn as string;
  const described = await streams.send(new DescribeStreamCommand({ StreamArn: streamArn }));
  const events: Array<{ shardId: string; Records: unknown[] }> = [];
  for (const shard of described.StreamDescription?.Shards ?? []) {
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

describe('jobChangesOf', () => {
  it('turns the stream records of a job into its changes: before and after, in order, with feed and position', async () => {
    const taskId = newTaskId();
    const key = { taskId, jobIndex: 4 };
    const ended: Attempt = {
      attempt: 1,
      pilotId: 'p-aaaaaa',
      siteId: 'site-a',
      state: 'failed',
      startedAt: '2026-11-25T10:00:00.000Z',
      endedAt: '2026-11-25T10:05:00.000Z',
      pilotErrorCode: 1001,
      exitCode: 3,
      usage: { wallTimeSec: 300.5, cpuTimeSec: 290, maxRssKB: 1024 },
      outputs: [{ name: 'events.root', key: 'tasks/x/events.root', bytes: 12 }],
    };
    await jobs.update(key, { set: runningRecord() }, ['absent']);
    await jobs.update(
      key,
      {
        set: { state: 'queued', attempt: 2, failures: 1, ended, updatedAt: '2026-11-25T10:05:00.000Z' },
        remove: ['pilotId', 'host', 'startedAt'],
      },
      [{ state: 'running', attempt: 1 }],
    );
    await db.send(new DeleteCommand({ TableName: tables.jobs, Key: key }));

    const events = await streamEvents();
    const changes = events.flatMap((event) => jobChangesOf(event));

    const first = { ...key, ...runningRecord() };
    const { pilotId: _p, host: _h, startedAt: _s, ...rest } = first;
    const second = {
      ...rest,
      state: 'queued',
      attempt: 2,
      failures: 1,
      ended,
      updatedAt: '2026-11-25T10:05:00.000Z',
    };
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
  });

  it('answers no changes for an event without records', () => {
    expect(jobChangesOf({ shardId: 'shardId-1', Records: [] })).toEqual([]);
  });

  it('refuses a malformed event, naming each bad field', () => {
    const issuesOf = (event: unknown): string[] => {
      try {
        jobChangesOf(event);
      } catch (error) {
        expect(error).toBeInstanceOf(ValidationError);
        return (error as ValidationError).issues.map((i) => i.field).sort();
      }
      throw new Error('the event was accepted');
    };
    const good = {
      eventName: 'INSERT',
      dynamodb: { SequenceNumber: '100', NewImage: { taskId: { S: 't-x' } } },
    };

    expect(issuesOf({ Records: [good] })).toEqual(['event.shardId']);
    expect(issuesOf({ shardId: 'shardId-1', Records: 'none' })).toEqual(['event.Records']);
    expect(issuesOf({ shardId: 'shardId-1', Records: [{ ...good, eventName: 'UPSERT' }] })).toEqual([
      'event.Records.0.eventName',
    ]);
    expect(
      issuesOf({
        shardId: '',
        Records: [good, { eventName: 'MODIFY', dynamodb: { SequenceNumber: '12a', OldImage: 'x' } }],
      }),
    ).toEqual([
      'event.Records.1.dynamodb.OldImage',
      'event.Records.1.dynamodb.SequenceNumber',
      'event.shardId',
    ]);
    expect(issuesOf({ shardId: 'shardId-1', Records: [{ eventName: 'REMOVE' }] })).toEqual([
      'event.Records.0.dynamodb',
    ]);
    expect(issuesOf(null)).toEqual(['event']);
  });
});
