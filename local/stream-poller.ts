import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  type _Record,
  DescribeStreamCommand,
  type DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
} from '@aws-sdk/client-dynamodb-streams';
import { sleep } from '#platform/sleep.ts';
import { matchesPattern } from './event-bus.ts';
import { type HandlerMap, invokeHandler } from './lambda-handler.ts';
import { consoleLog, type Log } from './log.ts';

/**
 * The Lambda event source mapping of a table's stream, on one machine: each shard is read in
 * order (GetRecords), its records are handed to the function in batches with the shard named (as
 * Lambda does with a tumbling window), and a failed batch is handed over again until it succeeds.
 * Where each shard got to is kept in a file, so a restarted stack goes on from there (the function
 * counts each change once even when a batch comes twice).
 */
export interface StreamPollerOptions {
  dynamodb: DynamoDBClient;
  streams: DynamoDBStreamsClient;
  tableName: string;
  functionName: string;
  handlers: HandlerMap;
  /** Where the shards' positions are kept (none: start from the oldest record each time). */
  checkpointFile?: string;
  /**
   * The mapping's filter (an EventBridge-style pattern over the record, lambdas/routes.ts
   * STREAM_FUNCTIONS): records that do not match are passed over, never handed to the function.
   */
  filter?: Readonly<Record<string, unknown>>;
  /** Records per batch (GetRecords limit, as the mapping's BatchSize). */
  batchSize?: number;
  /** Pause when a shard had nothing new. */
  idleMs?: number;
  /** How long to gather records into one batch once some came (default 500 ms; AWS: 1 s). */
  batchingWindowMs?: number;
  log?: Log;
}

export interface StreamPoller {
  /** Batches handed to the function so far, and how many failed (and were retried). */
  stats(): { batches: number; records: number; failures: number };
  /** Resolves once every record written before the call was handed over successfully. */
  drain(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

const RETRY_MS = 500;

export async function startStreamPoller(options: StreamPollerOptions): Promise<StreamPoller> {
  const log = options.log ?? consoleLog;
  const batchSize = options.batchSize ?? 500;
  const idleMs = options.idleMs ?? 100;
  const batchingWindowMs = options.batchingWindowMs ?? 500;
  const handler = options.handlers[options.functionName];
  if (handler === undefined) throw new Error(`no handler for stream function ${options.functionName}`);
  const table = await options.dynamodb.send(new DescribeTableCommand({ TableName: options.tableName }));
  const streamArn = table.Table?.LatestStreamArn;
  if (streamArn === undefined) throw new Error(`table ${options.tableName} has no stream`);

  const checkpoints: Record<string, string> = await loadCheckpoints(options.checkpointFile);
  const stats = { batches: 0, records: 0, failures: 0 };
  const stopping = new AbortController();
  const readers = new Map<string, Promise<void>>();
  /** Counts reads and drain() calls, so that drain() can tell the reads that began after it was called. */
  let clock = 0;
  /** Per shard: when (on `clock`) the last read that found nothing new began. */
  const emptyReadAt = new Map<string, number>();
  /** Shards read to their end (closed): nothing more will come from them. */
  const closed = new Set<string>();
  let saving = Promise.resolve();

  const save = (): void => {
    if (options.checkpointFile === undefined) return;
    const file = options.checkpointFile;
    const snapshot = JSON.stringify(checkpoints);
    saving = saving
      .then(async () => {
        await mkdir(dirname(file), { recursive: true });
        await writeFile(`${file}.tmp`, snapshot);
        await rename(`${file}.tmp`, file);
      })
      .catch((error: unknown) => log('warn', 'could not save stream positions', { error }));
  };

  async function readShard(shardId: string): Promise<void> {
    let iterator: string | undefined;
    while (!stopping.signal.aborted) {
      try {
        if (iterator === undefined) {
          const after = checkpoints[shardId];
          const out = await options.streams.send(
            new GetShardIteratorCommand({
              StreamArn: streamArn,
              ShardId: shardId,
              ...(after === undefined
                ? { ShardIteratorType: 'TRIM_HORIZON' }
                : { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: after }),
            }),
          );
          iterator = out.ShardIterator;
          if (iterator === undefined) {
            closed.add(shardId);
            return;
          }
        }
        const readAt = ++clock;
        const out = await options.streams.send(
          new GetRecordsCommand({ ShardIterator: iterator, Limit: batchSize }),
        );
        let records = out.Records ?? [];
        let next = out.NextShardIterator;
        // The batching window (the mapping's MaximumBatchingWindowInSeconds): gather what comes
        // within it into one batch, so the function runs once for many changes.
        const windowEnds = Date.now() + batchingWindowMs;
        while (
          records.length > 0 &&
          records.length < batchSize &&
          next !== undefined &&
          Date.now() < windowEnds
        ) {
          await sleep(Math.min(idleMs, Math.max(0, windowEnds - Date.now())), stopping.signal);
          if (stopping.signal.aborted) break;
          const more = await options.streams.send(
            new GetRecordsCommand({ ShardIterator: next, Limit: batchSize - records.length }),
          );
          records = records.concat(more.Records ?? []);
          next = more.NextShardIterator;
        }
        if (records.length > 0) {
          const filter = options.filter;
          const wanted =
            filter === undefined
              ? records
              : records.filter((r) => matchesPattern(filter, r as unknown as Record<string, unknown>));
          if (wanted.length > 0) await deliver(shardId, wanted);
          const last = records.at(-1)?.dynamodb?.SequenceNumber;
          if (last !== undefined) {
            checkpoints[shardId] = last;
            save();
          }
        } else {
          emptyReadAt.set(shardId, readAt);
        }
        iterator = next;
        if (iterator === undefined) {
          closed.add(shardId); // the shard closed; its children carry on
          return;
        }
        if (records.length === 0) await sleep(idleMs, stopping.signal);
      } catch (error) {
        if (stopping.signal.aborted) return;
        stats.failures++;
        log('warn', 'stream read failed; trying again', { table: options.tableName, shardId, error });
        iterator = undefined;
        await sleep(RETRY_MS, stopping.signal);
      }
    }
  }

  /** Hands one batch to the function until it takes it (a failed batch comes again, as on AWS). */
  async function deliver(shardId: string, records: _Record[]): Promise<void> {
    const event = {
      shardId,
      eventSourceARN: streamArn,
      Records: records.map((r) => ({
        eventID: r.eventID,
        eventName: r.eventName,
        eventVersion: r.eventVersion,
        eventSource: 'aws:dynamodb',
        awsRegion: r.awsRegion,
        dynamodb: r.dynamodb,
        eventSourceARN: streamArn,
      })),
    };
    for (;;) {
      try {
        await invokeHandler(handler as NonNullable<typeof handler>, options.functionName, event);
        stats.batches++;
        stats.records += records.length;
        return;
      } catch (error) {
        stats.failures++;
        if (stopping.signal.aborted) throw error;
        log('warn', `${options.functionName} failed; the batch comes again`, { shardId, error });
        await sleep(RETRY_MS, stopping.signal);
      }
    }
  }

  /** Starts a reader for every shard of the stream that has none yet. */
  async function discoverShards(): Promise<void> {
    try {
      const out = await options.streams.send(new DescribeStreamCommand({ StreamArn: streamArn }));
      for (const shard of out.StreamDescription?.Shards ?? []) {
        const id = shard.ShardId;
        if (id === undefined || readers.has(id) || stopping.signal.aborted) continue;
        readers.set(id, readShard(id));
      }
    } catch (error) {
      if (!stopping.signal.aborted)
        log('warn', 'stream description failed', { table: options.tableName, error });
    }
  }

  async function discover(): Promise<void> {
    while (!stopping.signal.aborted) {
      await discoverShards();
      await sleep(2000, stopping.signal);
    }
  }
  const discovering = discover();

  return {
    stats: () => ({ ...stats }),
    async drain(timeoutMs = 30_000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      // A shard that appeared since the last look gets its reader now, not at the next look.
      await discoverShards();
      // Caught up: a read that began after this call found nothing new (one that began before may
      // have missed the last records written) — or the shard is closed and read to its end.
      const calledAt = ++clock;
      const behind = (id: string): boolean => !closed.has(id) && (emptyReadAt.get(id) ?? 0) <= calledAt;
      while (readers.size === 0 || [...readers.keys()].some(behind)) {
        if (Date.now() > deadline)
          throw new Error(`stream of ${options.tableName} not drained in ${timeoutMs} ms`);
        await sleep(idleMs);
      }
    },
    async stop(): Promise<void> {
      stopping.abort();
      await Promise.allSettled([discovering, ...readers.values()]);
      await saving;
    },
  };
}

async function loadCheckpoints(file: string | undefined): Promise<Record<string, string>> {
  if (file === undefined) return {};
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as unknown;
    if (typeof parsed !== 'object' || parsed === null) return {};
    return Object.fromEntries(
      Object.entries(parsed).filter((e): e is [string, string] => typeof e[1] === 'string'),
    );
  } catch {
    return {};
  }
}
