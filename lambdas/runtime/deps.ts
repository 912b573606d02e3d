import { createHash, randomBytes } from 'node:crypto';
import {
  dynamoDbDocumentClient,
  eventBridgeClient,
  s3Client,
  sfnClient,
  sqsClient,
  stsClient,
} from '#adapters/aws-clients.ts';
import { DynamoDbAccountingStore } from '#adapters/dynamodb/dynamodb-accounting-store.ts';
import { DynamoDbCatalogStore } from '#adapters/dynamodb/dynamodb-catalog-store.ts';
import { DynamoDbEventRangeStore } from '#adapters/dynamodb/dynamodb-event-range-store.ts';
import { DynamoDbJobStore } from '#adapters/dynamodb/dynamodb-job-store.ts';
import { DynamoDbMetaTaskStore } from '#adapters/dynamodb/dynamodb-meta-task-store.ts';
import { DynamoDbPilotLeaseStore } from '#adapters/dynamodb/dynamodb-pilot-lease-store.ts';
import { DynamoDbPilotStore } from '#adapters/dynamodb/dynamodb-pilot-store.ts';
import { DynamoDbPolicyStore } from '#adapters/dynamodb/dynamodb-policy-store.ts';
import { DynamoDbRetryPolicyStore } from '#adapters/dynamodb/dynamodb-retry-policy-store.ts';
import { DynamoDbRuleStore } from '#adapters/dynamodb/dynamodb-rule-store.ts';
import { DynamoDbSiteStore } from '#adapters/dynamodb/dynamodb-site-store.ts';
import { DynamoDbTaskStore } from '#adapters/dynamodb/dynamodb-task-store.ts';
import { DynamoDbWebhookStore } from '#adapters/dynamodb/dynamodb-webhook-store.ts';
import { EventBridgeEventBus } from '#adapters/eventbridge/eventbridge-event-bus.ts';
import { FetchWebhookSender } from '#adapters/http/fetch-webhook-sender.ts';
import { EmfFileMetricsReader } from '#adapters/metrics/emf-file-metrics-reader.ts';
import { NoMetricsReader } from '#adapters/metrics/no-metrics-reader.ts';
import { S3AccountingExports } from '#adapters/s3/s3-accounting-exports.ts';
import { S3BucketReader } from '#adapters/s3/s3-bucket-reader.ts';
import { S3ObjectCopier } from '#adapters/s3/s3-object-copier.ts';
import { S3ObjectStore } from '#adapters/s3/s3-object-store.ts';
import { SfnMetaTaskWorkflow } from '#adapters/sfn/sfn-meta-task-workflow.ts';
import { SfnWorkflowEngine } from '#adapters/sfn/sfn-workflow-engine.ts';
import { SqsJobQueue } from '#adapters/sqs/sqs-job-queue.ts';
import { SqsRangeQueue } from '#adapters/sqs/sqs-range-queue.ts';
import { SqsTransferQueue } from '#adapters/sqs/sqs-transfer-queue.ts';
import { NoCredentialVendor, StsCredentialVendor } from '#adapters/sts/sts-credential-vendor.ts';
import type { Deps } from '#core/deps.ts';
import { cachedRetryPolicies } from '#core/policies/retry-policy-cache.ts';
import { type Config, config } from './config.ts';

/**
 * Time-sortable ids: base-36 milliseconds then random base-36, e.g. `t-mhx3k2a0q8f3z1c9w4`.
 * Sorting by id sorts by creation time.
 */
export function newId(prefix: 't' | 'p' | 'w' | 'r', now = Date.now()): string {
  const time = now.toString(36).padStart(9, '0');
  const random = BigInt(`0x${randomBytes(8).toString('hex')}`)
    .toString(36)
    .padStart(13, '0')
    .slice(0, 12);
  return `${prefix}-${time}${random}`;
}

/**
 * The id of a pilot that registers with a key: the same for every try of that registration, and
 * the key (which proves a retry is the pilot's own) cannot be read back from it. Not time-sortable.
 */
export function pilotIdOfKey(registrationKey: string): string {
  const digest = createHash('sha256').update(registrationKey).digest('hex').slice(0, 32);
  return `p-${BigInt(`0x${digest}`).toString(36).padStart(25, '0')}`;
}

/** Adapters built from a validated environment. */
export function depsFromConfig(c: Config): Deps {
  const db = dynamoDbDocumentClient();
  const clock = { now: () => new Date() };
  return {
    tasks: new DynamoDbTaskStore(db, c.GLUON_TASKS_TABLE),
    jobs: new DynamoDbJobStore(db, { jobs: c.GLUON_JOBS_TABLE, attempts: c.GLUON_ATTEMPTS_TABLE }),
    pilots: new DynamoDbPilotStore(db, c.GLUON_PILOTS_TABLE),
    leases: new DynamoDbPilotLeaseStore(db, c.GLUON_LEASES_TABLE),
    sites: new DynamoDbSiteStore(db, c.GLUON_SITES_TABLE),
    policies: new DynamoDbPolicyStore(db, c.GLUON_POLICIES_TABLE),
    queue: new SqsJobQueue(sqsClient(), c.GLUON_QUEUE_PREFIX),
    ranges: new DynamoDbEventRangeStore(db, c.GLUON_RANGES_TABLE),
    rangeQueue: new SqsRangeQueue(sqsClient(), c.GLUON_QUEUE_PREFIX),
    objects: new S3ObjectStore(s3Client(), c.GLUON_BUCKET),
    workflow: new SfnWorkflowEngine(sfnClient(), c.GLUON_STATE_MACHINE_ARN),
    credentials:
      c.GLUON_PILOT_ROLE_ARN === undefined
        ? new NoCredentialVendor()
        : new StsCredentialVendor(
            stsClient(),
            c.GLUON_PILOT_ROLE_ARN,
            undefined,
            c.GLUON_PILOT_DATA_LOCATIONS,
          ),
    clock,
    ids: {
      taskId: () => newId('t'),
      pilotId: (key) => (key === undefined ? newId('p') : pilotIdOfKey(key)),
    },
    settings: {
      leaseSec: c.GLUON_LEASE_SEC,
      heartbeatSec: c.GLUON_HEARTBEAT_SEC,
      rangePageSize: c.GLUON_RANGE_PAGE_SIZE,
      rangeLeaseSec: c.GLUON_RANGE_LEASE_SEC,
      inputPollSec: c.GLUON_INPUT_POLL_SEC,
    },
    retryPolicies: cachedRetryPolicies(
      new DynamoDbRetryPolicyStore(db, c.GLUON_POLICIES_TABLE),
      clock,
      c.GLUON_RETRY_POLICY_CACHE_SEC,
    ),
    accounting: new DynamoDbAccountingStore(db, c.GLUON_ACCOUNTING_TABLE),
    accountingExports: new S3AccountingExports(s3Client(), c.GLUON_BUCKET),
    events: new EventBridgeEventBus(eventBridgeClient(), c.GLUON_EVENT_BUS_NAME),
    webhooks: new DynamoDbWebhookStore(db, c.GLUON_WEBHOOKS_TABLE),
    webhookSender: new FetchWebhookSender(),
    webhookIds: { webhookId: () => newId('w'), secret: () => randomBytes(32).toString('hex') },
    notifications: {
      allowHttpLoopback: c.GLUON_WEBHOOK_ALLOW_HTTP_LOOPBACK,
      baseSec: c.GLUON_WEBHOOK_RETRY_BASE_SEC,
      maxDelaySec: c.GLUON_WEBHOOK_RETRY_MAX_SEC,
      maxAttempts: c.GLUON_WEBHOOK_MAX_ATTEMPTS,
      timeoutMs: c.GLUON_WEBHOOK_TIMEOUT_MS,
    },
    metricsReader:
      c.GLUON_METRICS_FILE === undefined
        ? new NoMetricsReader()
        : new EmfFileMetricsReader(c.GLUON_METRICS_FILE),
    catalog: new DynamoDbCatalogStore(db, c.GLUON_CATALOG_TABLE, { resultsBucket: c.GLUON_BUCKET }),
    buckets: new S3BucketReader(s3Client()),
    rules: new DynamoDbRuleStore(db, c.GLUON_CATALOG_TABLE),
    ruleIds: { ruleId: () => newId('r') },
    transferQueue: new SqsTransferQueue(sqsClient(), c.GLUON_TRANSFER_QUEUE_URL),
    // Server-side copies of large objects answer slowly: a minute before a request is given up.
    copier: new S3ObjectCopier(s3Client({ requestTimeoutMs: 60_000 }), {
      multipartThresholdBytes: c.GLUON_TRANSFER_MULTIPART_THRESHOLD_BYTES,
      partBytes: c.GLUON_TRANSFER_PART_BYTES,
    }),
    transfers: {
      baseSec: c.GLUON_TRANSFER_RETRY_BASE_SEC,
      maxDelaySec: c.GLUON_TRANSFER_RETRY_MAX_SEC,
      maxAttempts: c.GLUON_TRANSFER_MAX_ATTEMPTS,
    },
    metaTasks: new DynamoDbMetaTaskStore(db, c.GLUON_TASKS_TABLE),
    metaTaskWorkflow: new SfnMetaTaskWorkflow(sfnClient(), c.GLUON_META_TASK_STATE_MACHINE_ARN),
  };
}

let cached: Deps | undefined;

/** Production wiring, once per cold start. Every function shares it; each uses only its part. */
export function productionDeps(): Deps {
  cached ??= depsFromConfig(config());
  return cached;
}
