/**
 * AWS SDK clients, configured from the environment only: the SDK itself reads credentials and the
 * `AWS_ENDPOINT_URL_*` variables (the local stack points them at the stand-ins); the region
 * defaults to us-east-1. Every client counts the HTTP requests it sends (retries included) by
 * service and operation, so the benchmark can print AWS requests per job.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

const DEFAULT_REGION = 'us-east-1';

/** Process-global request counts, keyed `Service.Operation`, e.g. `DynamoDB.TransactWriteItems`. */
const requestCounts = new Map<string, number>();

export function awsRequestCounts(): Record<string, number> {
  return Object.fromEntries([...requestCounts.entries()].sort(([a], [b]) => a.localeCompare(b)));
}

export function resetAwsRequestCounts(): void {
  requestCounts.clear();
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
      return next(args);
    },
    { step: 'finalizeRequest', priority: 'low', name: 'gluonRequestCounter' },
  );
  return client;
}

function region(): string {
  return process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? DEFAULT_REGION;
}

export function dynamoDbClient(): DynamoDBClient {
  return countRequests(new DynamoDBClient({ region: region() }), 'DynamoDB');
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
export function sqsClient(): SQSClient {
  return countRequests(new SQSClient({ region: region(), useQueueUrlAsEndpoint: false }), 'SQS');
}

/** Path-style addressing when an S3 endpoint is set (a local stand-in has no per-bucket host names). */
export function s3Client(): S3Client {
  const endpointSet = Boolean(process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL);
  return countRequests(new S3Client({ region: region(), forcePathStyle: endpointSet }), 'S3');
}

export function sfnClient(): SFNClient {
  return countRequests(new SFNClient({ region: region() }), 'SFN');
}
