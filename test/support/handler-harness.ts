/**
 * For handler integration tests: real adapters (production wiring, `depsFromConfig`) against the
 * stand-ins started by test/integration/global-setup.ts, with table and queue names unique to one
 * test file (adapters/dynamodb/tables.ts `localTableNames`, created with `createTables`). Step
 * Functions has no stand-in in this tier, so the WorkflowEngine is a recording fake; the clock can
 * be set and advanced. The change feed of the jobs table is DynamoDB Local's real stream: the
 * harness reads it from where it stopped and hands each shard's new records to the
 * record-job-changes handler, in the event shape Lambda gives it (`settleJobChanges`).
 */
import { randomUUID } from 'node:crypto';
import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  type _Record,
  DescribeStreamCommand,
  type DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
} from '@aws-sdk/client-dynamodb-streams';
import type { S3Client } from '@aws-sdk/client-s3';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { type DynamoDBDocumentClient, GetCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type {
  APIGatewayProxyEventV2WithJWTAuthorizer,
  APIGatewayProxyStructuredResultV2,
  Context,
} from 'aws-lambda';
import {
  dynamoDbClient,
  dynamoDbDocumentClient,
  dynamoDbStreamsClient,
  s3Client,
  sqsClient,
} from '#adapters/aws-clients.ts';
import type { JobStreamEvent } from '#adapters/dynamodb/job-change-feed.ts';
import { createTables, localTableNames, type TableKey, type TableNames } from '#adapters/dynamodb/tables.ts';
import { ensureBucket } from '#adapters/s3/s3-object-store.ts';
import type { PilotCredentials } from '#core/api/pilots.ts';
import type { Clock, Deps, Settings } from '#core/deps.ts';
import { type JobMessage, parseJobMessage } from '#core/jobs/job-message.ts';
import type { CredentialVendor } from '#core/pilots/ports.ts';
import { type Site, type SiteInput, SiteSchema } from '#core/sites/site.ts';
import type { WaitOutcome, WorkflowEngine } from '#core/tasks/ports.ts';
import { createHandler as recordJobChangesHandler } from '#lambdas/jobs/record-job-changes/handler.ts';
import { type Config, config } from '#lambdas/runtime/config.ts';
import { depsFromConfig } from '#lambdas/runtime/deps.ts';
import { RecordingMetaTaskWorkflow } from './in-memory-meta-tasks.ts';
import { uniquePrefix, useStandInsEnv } from './stand-ins-env.ts';

export const TEST_SITE = 'test-site';

// ---- the fakes -----------------------------------------------------------------------------------

/** A WorkflowEngine that records startTask and releaseWait calls (and can be told to fail). */
export class RecordingWorkflow implements WorkflowEngine {
  /** Task ids whose workflow was started (successful calls only). */
  readonly started: string[] = [];
  /** releaseWait calls, in order. */
  readonly released: Array<{ token: string; output: WaitOutcome }> = [];
  /** When set, startTask throws this error and records nothing. */
  failStartWith: Error | undefined;

  async startTask(taskId: string, options: { resubmitOrder?: number } = {}): Promise<void> {
    if (this.failStartWith !== undefined) throw this.failStartWith;
    this.started.push(options.resubmitOrder === undefined ? taskId : `${taskId}-r${options.resubmitOrder}`);
  }

  async releaseWait(token: string, output: WaitOutcome): Promise<void> {
    this.released.push({ token, output: { ...output } });
  }

  releasesOf(taskId: string): Array<{ token: string; output: WaitOutcome }> {
    return this.released.filter((r) => r.output.taskId === taskId);
  }
}

/** A clock that stands still until told otherwise. */
export class SettableClock implements Clock {
  private at: number;

  constructor(start: Date = new Date()) {
    this.at = start.getTime();
  }

  now(): Date {
    return new Date(this.at);
  }

  set(at: Date | number): void {
    this.at = typeof at === 'number' ? at : at.getTime();
  }

  advance(ms: number): Date {
    this.at += ms;
    return this.now();
  }
}

export type VendScope = Parameters<CredentialVendor['vend']>[0];

/** Vends the credentials it is given (or none), recording each request. */
export class RecordingCredentialVendor implements CredentialVendor {
  readonly requests: VendScope[] = [];
  private readonly credentials: PilotCredentials | undefined;

  constructor(credentials?: PilotCredentials) {
    this.credentials = credentials;
  }

  async vend(scope: VendScope): Promise<PilotCredentials | undefined> {
    this.requests.push({ ...scope });
    return this.credentials;
  }
}

// ---- the harness ---------------------------------------------------------------------------------

export interface HarnessDeps extends Deps {
  workflow: RecordingWorkflow;
  metaTaskWorkflow: RecordingMetaTaskWorkflow;
  clock: SettableClock;
}

export interface HandlerHarness {
  /** Production adapters, except `workflow` (recording) and `clock` (settable). */
  deps: HarnessDeps;
  workflow: RecordingWorkflow;
  clock: SettableClock;
  /** The function environment the deps were built from. */
  config: Config;
  tables: TableNames;
  queuePrefix: string;
  bucket: string;
  /** Clients for looking at what the handlers left behind. */
  db: DynamoDBDocumentClient;
  sqs: SQSClient;
  s3: S3Client;
  /** Puts a site in the sites table and ensures its queue. */
  addSite(input: SiteInput): Promise<Site>;
  /** Raw items of a table (scan), e.g. to check that nothing was stored. */
  scan(table: TableKey): Promise<Array<Record<string, unknown>>>;
  /** The raw task head item (sk `task`), with attributes the domain type hides (waitToken…). */
  taskItem(taskId: string): Promise<Record<string, unknown> | undefined>;
  /**
   * Receives job messages from a site queue until `count` came (of `taskId` only, when given:
   * others are deleted and dropped) or `deadlineMs` passed, deleting each one, and returns them
   * sorted by task, job index and attempt.
   */
  receiveJobMessages(
    count: number,
    options?: { siteId?: string; taskId?: string; deadlineMs?: number },
  ): Promise<JobMessage[]>;
  /** Visible messages in a site queue right now (messages received and deleted are gone). */
  queueDepth(siteId?: string): Promise<number>;
  /**
   * The jobs table's stream records written since the last read, as the events Lambda hands the
   * stream function (one per shard and GetRecords page, the shard named by a tumbling window).
   */
  readJobChanges(): Promise<JobStreamEvent[]>;
  /**
   * Reads the new stream records and hands them to the record-job-changes handler, as the event
   * source mapping does; the number of records handed over.
   */
  settleJobChanges(): Promise<number>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  settings?: Partial<Settings>;
  /** Where the clock starts (default: now). */
  start?: Date;
}

/** Records per stream event (the mapping's batch size). */
const STREAM_BATCH = 100;

/** Where each shard of one table's stream was read to, and the reading itself. */
class JobStreamReader {
  private readonly positions = new Map<string, string>();
  private readonly exhausted = new Set<string>();
  private streamArn: string | undefined;
  private readonly db: DynamoDBClient;
  private readonly streams: DynamoDBStreamsClient;
  private readonly tableName: string;

  constructor(db: DynamoDBClient, streams: DynamoDBStreamsClient, tableName: string) {
    this.db = db;
    this.streams = streams;
    this.tableName = tableName;
  }

  async read(): Promise<JobStreamEvent[]> {
    this.streamArn ??= await this.arn();
    const streamArn = this.streamArn;
    const out = await this.streams.send(new DescribeStreamCommand({ StreamArn: streamArn }));
    const events: JobStreamEvent[] = [];
    for (const shard of out.StreamDescription?.Shards ?? []) {
      const shardId = shard.ShardId;
      if (shardId === undefined || this.exhausted.has(shardId)) continue;
      const after = this.positions.get(shardId);
      const start = await this.streams.send(
        new GetShardIteratorCommand({
          StreamArn: streamArn,
          ShardId: shardId,
          ...(after === undefined
            ? { ShardIteratorType: 'TRIM_HORIZON' }
            : { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: after }),
        }),
      );
      let iterator = start.ShardIterator;
      while (iterator !== undefined) {
        const page = await this.streams.send(
          new GetRecordsCommand({ ShardIterator: iterator, Limit: STREAM_BATCH }),
        );
        const records = page.Records ?? [];
        if (records.length === 0) break;
        events.push(lambdaStreamEvent(shardId, streamArn, records));
        const last = records.at(-1)?.dynamodb?.SequenceNumber;
        if (last !== undefined) this.positions.set(shardId, last);
        iterator = page.NextShardIterator;
      }
      // A closed shard read to its end gives nothing more.
      if (iterator === undefined) this.exhausted.add(shardId);
    }
    return events;
  }

  private async arn(): Promise<string> {
    const table = await this.db.send(new DescribeTableCommand({ TableName: this.tableName }));
    const arn = table.Table?.LatestStreamArn;
    if (arn === undefined) throw new Error(`table ${this.tableName} has no stream`);
    return arn;
  }
}

/** A DynamoDB Streams event as Lambda delivers it (with a tumbling window, so it names the shard). */
function lambdaStreamEvent(shardId: string, streamArn: string, records: _Record[]): JobStreamEvent {
  return {
    shardId,
    eventSourceARN: streamArn,
    window: { start: new Date().toISOString(), end: new Date().toISOString() },
    state: {},
    isFinalInvokeForWindow: false,
    isWindowTerminatedEarly: false,
    Records: records.map((r) => ({
      eventID: r.eventID,
      eventName: r.eventName as 'INSERT' | 'MODIFY' | 'REMOVE',
      eventVersion: r.eventVersion,
      eventSource: 'aws:dynamodb',
      awsRegion: r.awsRegion,
      eventSourceARN: streamArn,
      dynamodb: {
        ...r.dynamodb,
        ApproximateCreationDateTime:
          r.dynamodb?.ApproximateCreationDateTime === undefined
            ? undefined
            : Math.floor(r.dynamodb.ApproximateCreationDateTime.getTime() / 1000),
        SequenceNumber: r.dynamodb?.SequenceNumber ?? '',
      },
    })),
  } as JobStreamEvent;
}

/**
 * Creates the tables, the bucket and the `test-site` site with its queue, under names no other
 * test file uses, and builds the deps as production does from a GLUON_* environment.
 */
export async function createHandlerHarness(options: HarnessOptions = {}): Promise<HandlerHarness> {
  const restoreEnv = useStandInsEnv();
  const prefix = uniquePrefix('it-h-');
  const tables = localTableNames(prefix);
  const s = options.settings ?? {};
  const env: Record<string, string> = {
    GLUON_TASKS_TABLE: tables.tasks,
    GLUON_JOBS_TABLE: tables.jobs,
    GLUON_RANGES_TABLE: tables.ranges,
    GLUON_ATTEMPTS_TABLE: tables.attempts,
    GLUON_PILOTS_TABLE: tables.pilots,
    GLUON_LEASES_TABLE: tables.leases,
    GLUON_SITES_TABLE: tables.sites,
    GLUON_POLICIES_TABLE: tables.policies,
    GLUON_ACCOUNTING_TABLE: tables.accounting,
    GLUON_WEBHOOKS_TABLE: tables.webhooks,
    GLUON_CATALOG_TABLE: tables.catalog,
    GLUON_BUCKET: `${prefix}bucket`,
    GLUON_QUEUE_PREFIX: prefix,
    GLUON_STATE_MACHINE_ARN: 'arn:aws:states:us-east-1:000000000000:stateMachine:not-used-in-this-tier',
    GLUON_META_TASK_STATE_MACHINE_ARN:
      'arn:aws:states:us-east-1:000000000000:stateMachine:meta-not-used-in-this-tier',
    ...(s.leaseSec === undefined ? {} : { GLUON_LEASE_SEC: String(s.leaseSec) }),
    ...(s.heartbeatSec === undefined ? {} : { GLUON_HEARTBEAT_SEC: String(s.heartbeatSec) }),
  };
  const cfg = config(env);
  const workflow = new RecordingWorkflow();
  const clock = new SettableClock(options.start);
  const deps: HarnessDeps = {
    ...depsFromConfig(cfg),
    workflow,
    clock,
    metaTaskWorkflow: new RecordingMetaTaskWorkflow(),
  };

  const rawDb = dynamoDbClient();
  const db = dynamoDbDocumentClient(rawDb);
  const streams = dynamoDbStreamsClient();
  const sqs = sqsClient();
  const s3 = s3Client();
  const close = async (): Promise<void> => {
    db.destroy();
    rawDb.destroy();
    streams.destroy();
    sqs.destroy();
    s3.destroy();
    restoreEnv();
  };

  try {
    await createTables(rawDb, tables);
    await ensureBucket(s3, cfg.GLUON_BUCKET);
  } catch (error) {
    await close();
    throw error;
  }

  const addSite = async (input: SiteInput): Promise<Site> => {
    const site = SiteSchema.parse(input);
    await deps.queue.ensureSiteQueue(site.siteId);
    await deps.sites.put(site);
    return site;
  };
  const reader = new JobStreamReader(rawDb, streams, tables.jobs);
  const recordJobChanges = recordJobChangesHandler(deps);

  const harness: HandlerHarness = {
    deps,
    workflow,
    clock,
    config: cfg,
    tables,
    queuePrefix: prefix,
    bucket: cfg.GLUON_BUCKET,
    db,
    sqs,
    s3,
    addSite,
    async scan(table) {
      const items: Array<Record<string, unknown>> = [];
      let startKey: Record<string, unknown> | undefined;
      do {
        const out = await db.send(new ScanCommand({ TableName: tables[table], ExclusiveStartKey: startKey }));
        items.push(...(out.Items ?? []));
        startKey = out.LastEvaluatedKey;
      } while (startKey !== undefined);
      return items;
    },
    async taskItem(taskId) {
      const out = await db.send(
        new GetCommand({ TableName: tables.tasks, Key: { taskId, sk: 'task' }, ConsistentRead: true }),
      );
      return out.Item;
    },
    async receiveJobMessages(count, { siteId = TEST_SITE, taskId, deadlineMs = 15_000 } = {}) {
      const queueUrl = await deps.queue.queueUrl(siteId);
      const got: JobMessage[] = [];
      const deadline = Date.now() + deadlineMs;
      while (got.length < count && Date.now() < deadline) {
        const out = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            MaxNumberOfMessages: Math.min(10, count - got.length),
            WaitTimeSeconds: 1,
            VisibilityTimeout: 60,
          }),
        );
        const messages = out.Messages ?? [];
        if (messages.length === 0) continue;
        got.push(
          ...messages
            .map((m) => parseJobMessage(m.Body ?? ''))
            .filter((m) => taskId === undefined || m.taskId === taskId),
        );
        await sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' })),
          }),
        );
      }
      return got.sort(
        (a, b) => a.taskId.localeCompare(b.taskId) || a.jobIndex - b.jobIndex || a.attempt - b.attempt,
      );
    },
    queueDepth(siteId = TEST_SITE) {
      return deps.queue.depth(siteId);
    },
    readJobChanges() {
      return reader.read();
    },
    async settleJobChanges() {
      let records = 0;
      for (const event of await reader.read()) {
        const answer = await invoke(recordJobChanges, event, 'record-job-changes');
        if (answer?.state === undefined)
          throw new Error('record-job-changes answered without a window state');
        records += event.Records.length;
      }
      return records;
    },
    close,
  };

  try {
    await addSite({ siteId: TEST_SITE });
  } catch (error) {
    await close();
    throw error;
  }
  return harness;
}

// ---- events and invocation -----------------------------------------------------------------------

export type HttpEvent = APIGatewayProxyEventV2WithJWTAuthorizer;

export interface HttpEventInput {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** The route path as in core/api/operations.ts, e.g. `/tasks/{taskId}`; filled from pathParameters. */
  path: string;
  pathParameters?: Record<string, string>;
  query?: Record<string, string>;
  /** An object is sent as JSON; a string is sent as it is. */
  body?: unknown;
  /** The token's subject; `null` for a token without one. Default `alice`. */
  sub?: string | null;
  /** The token's scopes. Default none. */
  scopes?: string[];
  /** More request headers (names lower-case, as API Gateway passes them). */
  headers?: Record<string, string>;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `25/Nov/2026:10:01:02 +0000`, the format of `requestContext.time`. */
function apiGatewayTime(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

/**
 * An HTTP API (payload format 2.0) event as API Gateway builds it after its JWT authorizer
 * accepted the token: claims as strings (`scope` space-separated), scopes as a list.
 */
export function httpEvent(input: HttpEventInput): HttpEvent {
  const now = new Date();
  const pathParameters = input.pathParameters ?? {};
  const rawPath = input.path.replace(/\{([^}]+)\}/g, (_, name: string) =>
    encodeURIComponent(pathParameters[name] ?? ''),
  );
  const query = input.query ?? {};
  const rawQueryString = new URLSearchParams(query).toString();
  const body =
    input.body === undefined
      ? undefined
      : typeof input.body === 'string'
        ? input.body
        : JSON.stringify(input.body);
  const scopes = input.scopes ?? [];
  const sub = input.sub === undefined ? 'alice' : input.sub;
  const nowSec = Math.floor(now.getTime() / 1000);
  const claims: Record<string, string> = {
    iss: 'https://issuer.test',
    aud: 'gluon',
    iat: String(nowSec),
    exp: String(nowSec + 3600),
    jti: randomUUID(),
    scope: scopes.join(' '),
    ...(sub === null ? {} : { sub }),
  };
  const domainName = 'abc123.execute-api.us-east-1.amazonaws.com';
  const headers: Record<string, string> = {
    accept: 'application/json',
    authorization: 'Bearer test-token',
    host: domainName,
    'user-agent': 'gluon-test',
    'x-forwarded-for': '127.0.0.1',
    'x-forwarded-proto': 'https',
    ...(body === undefined
      ? {}
      : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }),
    ...input.headers,
  };
  const routeKey = `${input.method} ${input.path}`;
  const event: HttpEvent = {
    version: '2.0',
    routeKey,
    rawPath,
    rawQueryString,
    headers,
    requestContext: {
      accountId: '000000000000',
      apiId: 'abc123',
      authorizer: { principalId: '', integrationLatency: 0, jwt: { claims, scopes } },
      domainName,
      domainPrefix: 'abc123',
      http: {
        method: input.method,
        path: rawPath,
        protocol: 'HTTP/1.1',
        sourceIp: '127.0.0.1',
        userAgent: 'gluon-test',
      },
      requestId: randomUUID(),
      routeKey,
      stage: '$default',
      time: apiGatewayTime(now),
      timeEpoch: now.getTime(),
    },
    isBase64Encoded: false,
  };
  if (Object.keys(query).length > 0) event.queryStringParameters = { ...query };
  if (Object.keys(pathParameters).length > 0) event.pathParameters = { ...pathParameters };
  if (body !== undefined) event.body = body;
  return event;
}

/** A minimal Lambda context for one in-process invocation. */
export function lambdaContext(functionName = 'test-function'): Context {
  const fail = (): never => {
    throw new Error('callback-style handlers are not supported here');
  };
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'test',
    getRemainingTimeInMillis: () => 60_000,
    done: fail,
    fail,
    succeed: fail,
  };
}

/** Calls a handler the way the Lambda runtime does (async handlers only). */
export async function invoke<E, R>(
  handler: (event: E, context: Context) => Promise<R>,
  event: E,
  functionName?: string,
): Promise<R> {
  return await handler(event, lambdaContext(functionName));
}

export interface HttpReply<T> {
  statusCode: number;
  headers: Record<string, string | number | boolean>;
  /** The JSON body, parsed. */
  body: T;
}

/** Invokes an HTTP handler and parses its JSON body. */
export async function invokeHttp<T = unknown>(
  handler: (event: HttpEvent, context: Context) => Promise<APIGatewayProxyStructuredResultV2>,
  event: HttpEvent,
): Promise<HttpReply<T>> {
  const result = await invoke(handler, event);
  return {
    statusCode: result.statusCode ?? 200,
    headers: result.headers ?? {},
    body: (result.body === undefined || result.body === '' ? undefined : JSON.parse(result.body)) as T,
  };
}

/** Field names of an error body's issues, sorted. */
export function issueFields(body: unknown): string[] {
  const issues = (body as { error?: { issues?: Array<{ field: string }> } }).error?.issues ?? [];
  return issues.map((i) => i.field).sort();
}
