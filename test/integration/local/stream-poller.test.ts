import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateTableCommand,
  DeleteItemCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
} from '@aws-sdk/client-dynamodb-streams';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import type { HandlerMap } from '#local/lambda-handler.ts';
import { silentLog } from '#local/log.ts';
import { type StreamPoller, type StreamPollerOptions, startStreamPoller } from '#local/stream-poller.ts';
import { uniquePrefix } from '#test/support/stand-ins-env.ts';

const FUNCTION = 'record-changes';

/** One record as the function got it. */
interface Seen {
  shardId: string;
  eventSourceARN: string;
  eventName: string;
  key: string;
  seq: string;
  newImage: unknown;
  oldImage: unknown;
}

interface StreamEvent {
  shardId: string;
  eventSourceARN: string;
  Records: Array<{
    eventName: string;
    eventSource: string;
    eventSourceARN: string;
    dynamodb: {
      Keys: { pk: { S: string } };
      SequenceNumber: string;
      NewImage?: unknown;
      OldImage?: unknown;
    };
  }>;
}

let ddb: DynamoDBClient;
let streams: DynamoDBStreamsClient;
let stateDir: string;
let table: string;
let streamArn: string;
const pollers: StreamPoller[] = [];
const tables: string[] = [];

async function until(what: string, condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A table with a stream of new and old images, named for this test only. */
async function createTable(stream = true): Promise<string> {
  const name = `${uniquePrefix('it-stream-')}changes`;
  await ddb.send(
    new CreateTableCommand({
      TableName: name,
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      ...(stream
        ? { StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' } }
        : {}),
    }),
  );
  tables.push(name);
  return name;
}

const put = (key: string, value = 0) =>
  ddb.send(new PutItemCommand({ TableName: table, Item: { pk: { S: key }, value: { N: String(value) } } }));

/**
 * A function that records every record it is handed, in the order it got them; `fail(event)`
 * true makes that call throw (the batch is then not taken).
 */
function recorder(fail: (event: StreamEvent) => boolean = () => false) {
  const taken: Seen[] = [];
  const handed: string[][] = [];
  let failures = 0;
  const handlers: HandlerMap = {
    [FUNCTION]: async (raw) => {
      const event = raw as StreamEvent;
      handed.push(event.Records.map((r) => r.dynamodb.Keys.pk.S));
      if (fail(event)) {
        failures += 1;
        throw new Error('the table of counters is busy');
      }
      for (const r of event.Records) {
        expect(r.eventSource).toBe('aws:dynamodb');
        expect(r.eventSourceARN).toBe(event.eventSourceARN);
        taken.push({
          shardId: event.shardId,
          eventSourceARN: event.eventSourceARN,
          eventName: r.eventName,
          key: r.dynamodb.Keys.pk.S,
          seq: r.dynamodb.SequenceNumber,
          newImage: r.dynamodb.NewImage,
          oldImage: r.dynamodb.OldImage,
        });
      }
    },
  };
  return { handlers, taken, handed, failures: () => failures, keys: () => taken.map((t) => t.key) };
}

async function start(
  handlers: HandlerMap,
  options: Partial<StreamPollerOptions> = {},
): Promise<StreamPoller> {
  const poller = await startStreamPoller({
    dynamodb: ddb,
    streams,
    tableName: table,
    functionName: FUNCTION,
    handlers,
    idleMs: 10,
    log: silentLog,
    ...options,
  });
  pollers.push(poller);
  return poller;
}

beforeAll(() => {
  const config = {
    endpoint: inject('awsEndpoints').dynamodb,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  };
  ddb = new DynamoDBClient(config);
  streams = new DynamoDBStreamsClient(config);
});

afterAll(async () => {
  await Promise.allSettled(tables.map((name) => ddb.send(new DeleteTableCommand({ TableName: name }))));
  ddb?.destroy();
  streams?.destroy();
});

beforeEach(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'gluon-streams-'));
  table = await createTable();
  const described = await ddb.send(new DescribeTableCommand({ TableName: table }));
  streamArn = described.Table?.LatestStreamArn as string;
});

afterEach(async () => {
  await Promise.all(pollers.splice(0).map((p) => p.stop()));
  await rm(stateDir, { recursive: true, force: true });
});

describe('local stream poller', () => {
  it('hands every change to the function in order, in batches, with the shard named', async () => {
    const fn = recorder();
    const poller = await start(fn.handlers, { batchSize: 2 });
    for (const key of ['a', 'b', 'c', 'd', 'e']) await put(key, 1);
    await ddb.send(
      new UpdateItemCommand({
        TableName: table,
        Key: { pk: { S: 'a' } },
        UpdateExpression: 'SET #v = :v',
        ExpressionAttributeNames: { '#v': 'value' },
        ExpressionAttributeValues: { ':v': { N: '2' } },
      }),
    );
    await ddb.send(new DeleteItemCommand({ TableName: table, Key: { pk: { S: 'b' } } }));
    await poller.drain();

    expect(fn.taken.map((t) => `${t.eventName} ${t.key}`)).toEqual([
      'INSERT a',
      'INSERT b',
      'INSERT c',
      'INSERT d',
      'INSERT e',
      'MODIFY a',
      'REMOVE b',
    ]);
    const seqs = fn.taken.map((t) => BigInt(t.seq));
    expect(seqs).toEqual([...seqs].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)));
    expect(fn.taken[5]).toMatchObject({ oldImage: { value: { N: '1' } }, newImage: { value: { N: '2' } } });
    expect(fn.taken[6]?.newImage).toBeUndefined();
    expect(fn.handed.every((batch) => batch.length >= 1 && batch.length <= 2)).toBe(true);

    const shards = (await streams.send(new DescribeStreamCommand({ StreamArn: streamArn }))).StreamDescription
      ?.Shards;
    const shardIds = new Set(shards?.map((s) => s.ShardId));
    expect(fn.taken.every((t) => shardIds.has(t.shardId) && t.eventSourceARN === streamArn)).toBe(true);
    expect(poller.stats()).toEqual({ batches: fn.handed.length, records: 7, failures: 0 });
  });

  it('hands a failing batch over again until the function takes it, skipping nothing', async () => {
    let healthy = false;
    const fn = recorder((event) => !healthy && event.Records.some((r) => r.dynamodb.Keys.pk.S === 'b'));
    const poller = await start(fn.handlers, { batchSize: 1 });
    for (const key of ['a', 'b', 'c']) await put(key);
    let drained = false;
    const draining = poller.drain().then(() => {
      drained = true;
    });

    await until('the batch of b failing twice', () => fn.failures() >= 2);
    // Nothing after the failing batch was handed over, and drain() is still waiting.
    expect(fn.keys()).toEqual(['a']);
    expect(drained).toBe(false);

    healthy = true;
    await draining;
    expect(fn.keys()).toEqual(['a', 'b', 'c']);
    expect(fn.handed.filter((batch) => batch[0] === 'b').length).toBe(fn.failures() + 1);
    expect(poller.stats()).toMatchObject({ records: 3, failures: fn.failures() });
  });

  it('goes on after a restart from where its checkpoint file says each shard got to', async () => {
    const checkpointFile = join(stateDir, 'streams.json');
    const first = recorder();
    const before = await start(first.handlers, { checkpointFile });
    await put('a');
    await put('b');
    await before.drain();
    await before.stop();
    const saved = JSON.parse(await readFile(checkpointFile, 'utf8')) as Record<string, string>;
    expect(Object.values(saved)).toEqual([first.taken[1]?.seq]);
    expect(Object.keys(saved)).toEqual([first.taken[1]?.shardId]);

    // Written while no poller runs.
    await put('c');
    await put('d');
    const second = recorder();
    const after = await start(second.handlers, { checkpointFile });
    await after.drain();
    expect(first.keys()).toEqual(['a', 'b']);
    expect(second.keys()).toEqual(['c', 'd']);

    // Without the file, a poller starts from the oldest record.
    const fresh = recorder();
    await (await start(fresh.handlers)).drain();
    expect(fresh.keys()).toEqual(['a', 'b', 'c', 'd']);
  });

  it('hands a batch the function never took over again after a restart', async () => {
    const checkpointFile = join(stateDir, 'streams.json');
    const broken = recorder(() => true);
    const before = await start(broken.handlers, { checkpointFile });
    await put('a');
    await until('a failed batch', () => broken.failures() >= 1);
    await before.stop();

    const mended = recorder();
    const after = await start(mended.handlers, { checkpointFile });
    await after.drain();
    expect(broken.keys()).toEqual([]);
    expect(mended.keys()).toEqual(['a']);
  });

  it('drains a record written while a read that found nothing is on its way back', async () => {
    // Every GetRecords answer arrives 100 ms after the endpoint made it, as from a distant endpoint.
    let onTheWay = 0;
    const slow = {
      send: async (command: unknown) => {
        const out = await streams.send(command as GetRecordsCommand);
        if (command instanceof GetRecordsCommand) {
          onTheWay += 1;
          await new Promise((r) => setTimeout(r, 100));
          onTheWay -= 1;
        }
        return out;
      },
    } as unknown as DynamoDBStreamsClient;
    const fn = recorder();
    const poller = await start(fn.handlers, { streams: slow });
    for (let i = 0; i < 5; i++) {
      await until('an answer on its way', () => onTheWay > 0);
      await put(`k${i}`);
      await poller.drain();
      expect(fn.keys().at(-1), `after write ${i}`).toBe(`k${i}`);
    }
  });

  it('refuses a table without a stream and a function it has no handler for', async () => {
    table = await createTable(false);
    await expect(start(recorder().handlers)).rejects.toThrow(`table ${table} has no stream`);
    await expect(start({})).rejects.toThrow(`no handler for stream function ${FUNCTION}`);
  });
});
