import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbJobStore } from '#adapters/dynamodb/dynamodb-job-store.ts';
import { jobChangesOf } from '#adapters/dynamodb/job-change-feed.ts';
import { ValidationError } from '#core/errors.ts';
import type { Attempt } from '#core/jobs/job.ts';
import { newTaskId, runningRecord } from '../fixtures.ts';
import { expectCreateChangeDelete, streamEvents, useStreamTables } from './stream-events.ts';

const feed = useStreamTables('it-feed-');
let jobs: DynamoDbJobStore;

beforeAll(() => {
  jobs = new DynamoDbJobStore(feed.db, { jobs: feed.tables.jobs, attempts: feed.tables.attempts });
});

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
    await feed.db.send(new DeleteCommand({ TableName: feed.tables.jobs, Key: key }));

    const events = await streamEvents(feed, 'jobs');
    const changes = events.flatMap((event) => jobChangesOf(event));

    const first = { ...key, ...runningRecord() };
    const { pilotId: _p, host: _h, startedAt: _s, ...rest } = first;
    const second = {
      ...rest,
      state: 'queued' as const,
      attempt: 2,
      failures: 1,
      ended,
      updatedAt: '2026-11-25T10:05:00.000Z',
    };
    expectCreateChangeDelete(changes, events, [first, second]);
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
