/**
 * AWS list prices used to estimate dollars per million jobs (us-east-1, on-demand, as published in
 * 2026; no free tier). Keep them here, in one table, and date any change.
 */
export const PRICES = {
  /** DynamoDB on-demand: per million write / read request units. */
  dynamoDbWriteUnitPerMillion: 0.625,
  dynamoDbReadUnitPerMillion: 0.125,
  /** SQS standard queue: per million requests (each 64 KB chunk). */
  sqsRequestPerMillion: 0.4,
  /** API Gateway HTTP API: per million requests (first 300M/month). */
  httpApiRequestPerMillion: 1.0,
  /** Lambda arm64: per million requests, and per GB-second. */
  lambdaRequestPerMillion: 0.2,
  lambdaGbSecondArm: 0.0000133334,
  /** Step Functions Standard: per million state transitions. */
  stepFunctionsTransitionPerMillion: 25,
  /** CloudWatch Logs: ingestion per GB (function logs and API access logs). */
  cloudWatchLogsIngestionPerGb: 0.5,
  /** S3 Standard: per million PUT and GET requests. */
  s3PutPerMillion: 5.0,
  s3GetPerMillion: 0.4,
  /** EventBridge: per million custom events published (PutEvents entries, 64 KB chunks). Added 2026-12-02. */
  eventBridgeEventPerMillion: 1.0,
} as const;
