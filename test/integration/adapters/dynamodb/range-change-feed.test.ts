import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbEventRangeStore } from '#adapters/dynamodb/dynamodb-event-range-store.ts';
import { rangeChangesOf } from '#adapters/dynamodb/range-change-feed.ts';
import { ValidationError } from '#core/errors.ts';
import type { RangeRecord } from '#core/event-ranges/event-range.ts';
import { newTaskId } from '../fixtures.ts';
import { expectCreateChangeDelete, streamEvents, useStreamTables } from './stream-events.ts';

const feed = useStreamTables('it-range-feed-');
let ranges: DynamoDbEventRangeStore;

beforeAll(() => {
  ranges = new DynamoDbEventRangeStore(feed.db, feed.tables.ranges);
});

describe('rangeChangesOf', () => {
  it('turns the stream records of a range into its changes: before and after, in order, with feed and position', async () => {
    const taskId = newTaskId();
    const running: RangeRecord = {
      taskId,
      rangeIndex: 7,
      firstEvent: 200,
      nEvents: 100,
      file: 'data.root',
      state: 'running',
      attempt: 1,
      pilotId: 'p-aaaaaa',
      jobIndex: 1,
      updatedAt: '2026-11-25T10:00:00.000Z',
    };
    const finished: RangeRecord = {
      ...running,
      state: 'finished',
      output: { key: `tasks/${taskId}/ranges/7/out.root`, bytes: 4096, adler32: '0a1b2c3d' },
      wallTimeSec: 12.5,
      updatedAt: '2026-11-25T10:01:00.000Z',
    };
    await ranges.write([{ record: running, expected: ['absent'] }]);
    await ranges.write([{ record: finished, expected: [{ state: 'running', attemptAtMost: 1 }] }]);
    await feed.db.send(new DeleteCommand({ TableName: feed.tables.ranges, Key: { taskId, rangeIndex: 7 } }));

    const events = await streamEvents(feed, 'ranges');
    const changes = events.flatMap((event) => rangeChangesOf(event));

    expectCreateChangeDelete(changes, events, [running, finished]);
  });

  it('answers no changes for an event without records', () => {
    expect(rangeChangesOf({ shardId: 'shardId-1', Records: [] })).toEqual([]);
  });

  it('refuses a malformed event as a range stream event, naming each bad field', () => {
    const event = {
      shardId: '',
      Records: [{ eventName: 'MODIFY', dynamodb: { SequenceNumber: '12a', NewImage: 'x' } }],
    };
    const error = (() => {
      try {
        rangeChangesOf(event);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).message).toContain('range stream event');
    expect((error as ValidationError).issues.map((i) => i.field).sort()).toEqual([
      'event.Records.0.dynamodb.NewImage',
      'event.Records.0.dynamodb.SequenceNumber',
      'event.shardId',
    ]);
  });
});
