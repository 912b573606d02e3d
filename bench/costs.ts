/**
 * The cost model: what one job (or one pilot-day) costs on AWS at list prices (prices.ts), from
 * what was measured on the local stack: requests by service, DynamoDB capacity units as DynamoDB
 * Local reports them, Lambda invocations and their measured duration at each function's memory
 * (cdk/function-catalog.ts), state transitions, and the bytes logged to CloudWatch Logs.
 */
import { functionCatalog } from '#cdk/function-catalog.ts';
import { PRICES } from './prices.ts';

export interface Measured {
  /** Jobs (or whatever unit the figures are divided by). */
  units: number;
  dynamoDb: { write: number; read: number };
  /** AWS requests by `Service.Operation`, functions and pilots together. */
  requests: Record<string, number>;
  apiCalls: number;
  /** Lambda invocations and billed milliseconds per function. */
  invocations: Record<string, { count: number; billedMs: number }>;
  stateTransitions: number;
  /** Bytes of function logs and API access logs (CloudWatch Logs ingestion). */
  logBytes: number;
}

export interface Dollars {
  dynamoDb: number;
  sqs: number;
  apiGateway: number;
  lambda: number;
  stepFunctions: number;
  cloudWatchLogs: number;
  /** Task events published to the bus (one PutEvents entry per task state change). */
  eventBridge: number;
  controlPlane: number;
  /** S3 requests for logs and outputs (data plane, apart). */
  s3Data: number;
}

const MEMORY_MB = new Map(functionCatalog().map((f) => [f.name, f.memoryMB]));

export function lambdaGbSeconds(invocations: Measured['invocations']): number {
  let gbSec = 0;
  for (const [name, { billedMs }] of Object.entries(invocations)) {
    gbSec += (billedMs / 1000) * ((MEMORY_MB.get(name) ?? 512) / 1024);
  }
  return gbSec;
}

/** Dollars per million units. */
export function dollarsPerMillion(m: Measured): Dollars {
  const per = (count: number, pricePerMillion: number) => (count / m.units) * pricePerMillion;
  const requests = (service: string) =>
    Object.entries(m.requests)
      .filter(([key]) => key.startsWith(`${service}.`))
      .reduce((sum, [, n]) => sum + n, 0);
  const invocations = Object.values(m.invocations).reduce((sum, v) => sum + v.count, 0);
  const dollars = {
    dynamoDb:
      per(m.dynamoDb.write, PRICES.dynamoDbWriteUnitPerMillion) +
      per(m.dynamoDb.read, PRICES.dynamoDbReadUnitPerMillion),
    sqs: per(requests('SQS'), PRICES.sqsRequestPerMillion),
    apiGateway: per(m.apiCalls, PRICES.httpApiRequestPerMillion),
    lambda:
      per(invocations, PRICES.lambdaRequestPerMillion) +
      (lambdaGbSeconds(m.invocations) / m.units) * PRICES.lambdaGbSecondArm * 1e6,
    stepFunctions: per(m.stateTransitions, PRICES.stepFunctionsTransitionPerMillion),
    cloudWatchLogs: (m.logBytes / m.units / 1e9) * PRICES.cloudWatchLogsIngestionPerGb * 1e6,
    eventBridge: per(requests('EventBridge'), PRICES.eventBridgeEventPerMillion),
  };
  return {
    ...dollars,
    controlPlane: Object.values(dollars).reduce((a, b) => a + b, 0),
    s3Data:
      per(m.requests['S3.PutObject'] ?? 0, PRICES.s3PutPerMillion) +
      per(m.requests['S3.GetObject'] ?? 0, PRICES.s3GetPerMillion),
  };
}
