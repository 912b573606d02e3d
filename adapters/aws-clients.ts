/**
 * AWS SDK clients, for the functions, the local stack and the pilot alike: the SDK reads
 * credentials and the `AWS_ENDPOINT_URL_*` variables (the local stack points them at the
 * stand-ins); the region defaults to us-east-1. Every client
 * - gives up on a request that does not answer within a timeout (GLUON_SDK_TIMEOUT_MS, default
 *   3 s, and GLUON_SDK_MAX_ATTEMPTS tries), so a stalled service becomes a TransientError (HTTP 503
 *   with Retry-After) within seconds instead of a request held open;
 * - counts the HTTP requests it sends (retries included) by service and operation, so the
 *   benchmark can print AWS requests per job.
 */
import { BatchClient } from '@aws-sdk/client-batch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import { STSClient } from '@aws-sdk/client-sts';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@aws-sdk/types';
import { isThrottleError } from './sdk-errors.ts';

const DEFAULT_REGION = 'us-east-1';

/** Process-global request counts, keyed `Service.Operation`, e.g. `DynamoDB.TransactWriteItems`. */
const requestCounts = new Map<string, number>();
/** Milliseconds spent waiting for the answers, by `Service.Operation` (the benchmark's latency view). */
const requestMillis = new Map<string, number>();

export function awsRequestMillis(): Record<string, number> {
  return Object.fromEntries([...requestMillis.entries()].sort(([a], [b]) => a.localeCompare(b)));
}

export function awsRequestCounts(): Record<string, number> {
  return Object.fromEntries([...requestCounts.entries()].sort(([a], [b]) => a.localeCompare(b)));
}

export function resetAwsRequestCounts(): void {
  requestCounts.clear();
  requestMillis.clear();
}

interface CountableClient {
  middlewareStack: {
    add(
      middleware: (
        next: (args: unknown) => Promise<unknown>,
        context: { commandName?: string },
      ) => (args: unknown) => Promise<unknown>,
      options: { step: 'finalizeRequest'; priority: 'low'; name: string },
    ): void;
  };
}

/** Applied to every client built from now on (the functions' tracer: Powertools Tracer). */
let instrument: <C>(client: C) => C = (client) => client;
/** Told of every request a service refused for throughput (the functions count DynamoDbThrottles). */
let throttled: (service: string, operation: string) => void = () => {};

export function instrumentAwsClients(apply: <C>(client: C) => C): void {
  instrument = apply;
}

export function onAwsThrottle(listener: (service: string, operation: string) => void): void {
  throttled = listener;
}

/**
 * Adds the counting middleware. It sits in the finalizeRequest step below the retry middleware, so
 * each HTTP attempt counts once; presigning a URL sends nothing and counts nothing.
 */
function countRequests<C>(client: C, service: string): C {
  (client as CountableClient).middlewareStack.add(
    (next, context) => async (args) => {
      const operation = (context.commandName ?? 'Unknown').replace(/Command$/, '');
      const key = `${service}.${operation}`;
      requestCounts.set(key, (requestCounts.get(key) ?? 0) + 1);
      const started = performance.now();
      try {
        return await next(args);
      } catch (error) {
        // Below the retry middleware: each refused HTTP attempt counts, also when a retry succeeds.
        if (isThrottleError(error)) throttled(service, operation);
        throw error;
      } finally {
        requestMillis.set(key, (requestMillis.get(key) ?? 0) + performance.now() - started);
      }
    },
    { step: 'finalizeRequest', priority: 'low', name: 'gluonRequestCounter' },
  );
  return instrument(client);
}

function region(): string {
  return process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? DEFAULT_REGION;
}

export interface ClientOptions {
  /** Credentials other than the default chain's (a pilot's vended ones). */
  credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  /** How long one request may take (a long poll needs longer than its wait). */
  requestTimeoutMs?: number;
  maxAttempts?: number;
}

function positiveEnv(name: string, fallback: number): number {
  const value = Number(process.env[name]);
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

/** Region, timeouts, tries and credentials shared by every client. */
function common(options: ClientOptions) {
  const requestTimeout = options.requestTimeoutMs ?? positiveEnv('GLUON_SDK_TIMEOUT_MS', 3000);
  return {
    region: region(),
    maxAttempts: options.maxAttempts ?? positiveEnv('GLUON_SDK_MAX_ATTEMPTS', 2),
    // socketTimeout: a request fails once no byte moved for this long (the SDK's requestTimeout
    // bounds a whole request and, unless throwOnRequestTimeout, only logs a warning).
    requestHandler: { socketTimeout: requestTimeout, connectionTimeout: Math.min(requestTimeout, 2000) },
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
  };
}

export function dynamoDbClient(options: ClientOptions = {}): DynamoDBClient {
  const client = countRequests(new DynamoDBClient(common(options)), 'DynamoDB');
  return process.env.GLUON_MEASURE_CAPACITY === '1' ? measureCapacity(client) : client;
}

/** The change feeds of tables (the local stack's stream poller; on AWS, Lambda reads them). */
export function dynamoDbStreamsClient(options: ClientOptions = {}): DynamoDBStreamsClient {
  return countRequests(new DynamoDBStreamsClient(common(options)), 'DynamoDBStreams');
}

/** Capacity units DynamoDB reported as consumed, split into reads and writes (benchmark only). */
const capacity = { read: 0, write: 0 };
const capacityByOperation = new Map<string, number>();

export function dynamoDbCapacity(): { read: number; write: number; byOperation: Record<string, number> } {
  return { ...capacity, byOperation: Object.fromEntries(capacityByOperation) };
}

const READS = new Set(['GetItem', 'Query', 'Scan', 'BatchGetItem', 'TransactGetItems']);
const CAPACITY_OPERATIONS = new Set([
  ...READS,
  'PutItem',
  'UpdateItem',
  'DeleteItem',
  'BatchWriteItem',
  'TransactWriteItems',
]);

interface InitializeClient {
  middlewareStack: {
    add(
      middleware: (
        next: (args: { input: Record<string, unknown> }) => Promise<{ output: Record<string, unknown> }>,
        context: { commandName?: string },
      ) => (args: { input: Record<string, unknown> }) => Promise<{ output: Record<string, unknown> }>,
      options: { step: 'initialize'; name: string },
    ): void;
  };
}

/**
 * Asks DynamoDB for ReturnConsumedCapacity on every call and adds it up (DynamoDB Local reports
 * transactional writes at two units per KB per item, as DynamoDB bills them).
 */
function measureCapacity(client: DynamoDBClient): DynamoDBClient {
  (client as unknown as InitializeClient).middlewareStack.add(
    (next, context) => async (args) => {
      const operation = (context.commandName ?? '').replace(/Command$/, '');
      if (!CAPACITY_OPERATIONS.has(operation)) return next(args);
      const result = await next({ ...args, input: { ...args.input, ReturnConsumedCapacity: 'TOTAL' } });
      const consumed = result.output.ConsumedCapacity as
        | { CapacityUnits?: number }
        | Array<{ CapacityUnits?: number }>
        | undefined;
      const units = (Array.isArray(consumed) ? consumed : consumed === undefined ? [] : [consumed]).reduce(
        (sum, c) => sum + (c.CapacityUnits ?? 0),
        0,
      );
      if (READS.has(operation)) capacity.read += units;
      else capacity.write += units;
      const table = String(args.input.TableName ?? 'transaction').replace(/^.*-/, '');
      const key = `${operation}.${table}`;
      capacityByOperation.set(key, (capacityByOperation.get(key) ?? 0) + units);
      return result;
    },
    { step: 'initialize', name: 'gluonCapacityMeter' },
  );
  return client;
}

/** A document client (plain JS values; undefined attributes dropped) over a counting DynamoDB client. */
export function dynamoDbDocumentClient(client: DynamoDBClient = dynamoDbClient()): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true },
  });
}

/**
 * Requests go to the configured endpoint, not to the host in a queue URL (the SDK default): the
 * same in AWS, and robust against stand-ins whose queue URLs name another host or port.
 */
export function sqsClient(options: ClientOptions = {}): SQSClient {
  return countRequests(new SQSClient({ ...common(options), useQueueUrlAsEndpoint: false }), 'SQS');
}

/** Path-style addressing when an S3 endpoint is set (a local stand-in has no per-bucket host names). */
export function s3Client(options: ClientOptions = {}): S3Client {
  const endpointSet = Boolean(process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL);
  // WHEN_REQUIRED: a presigned PUT must not carry the checksum of an empty body (the SDK default
  // since 3.729), or S3 rejects every real upload through it.
  return countRequests(
    new S3Client({
      ...common(options),
      forcePathStyle: endpointSet,
      requestChecksumCalculation: 'WHEN_REQUIRED',
    }),
    'S3',
  );
}

export function stsClient(options: ClientOptions = {}): STSClient {
  return countRequests(new STSClient(common(options)), 'STS');
}

export function sfnClient(options: ClientOptions = {}): SFNClient {
  return countRequests(new SFNClient(common(options)), 'SFN');
}

/** Task events (PutEvents); locally AWS_ENDPOINT_URL_EVENTBRIDGE points at the local stack's bus. */
export function eventBridgeClient(options: ClientOptions = {}): EventBridgeClient {
  return countRequests(new EventBridgeClient(common(options)), 'EventBridge');
}

/** EC2 for the cloud provisioner (CreateFleet, DescribeInstances, DescribeSpotPriceHistory); locally AWS_ENDPOINT_URL_EC2 points at local/fake-ec2. */
export function ec2Client(options: ClientOptions = {}): EC2Client {
  return countRequests(new EC2Client(common(options)), 'EC2');
}

/** AWS Batch for the cloud provisioner (SubmitJob, ListJobs); locally AWS_ENDPOINT_URL_BATCH points at local/fake-ec2. */
export function batchClient(options: ClientOptions = {}): BatchClient {
  return countRequests(new BatchClient(common(options)), 'Batch');
}
