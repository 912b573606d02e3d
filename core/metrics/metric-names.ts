/**
 * The application metrics (CloudWatch namespace `Gluon`): names are PascalCase noun + past
 * participle, ids never are dimensions (STYLE.md). A metric with a dimension names it here; the
 * dimension's values are few (an outcome, a pilot error code, a site).
 */
export const METRIC_NAMESPACE = 'Gluon';

export const METRICS = {
  /** Attempts that started running (the jobs table's change feed sees each once). */
  JobsStarted: { unit: 'Count' },
  /** Attempts that ended, by how: finished, failed, lost, evicted, cancelled, abandoned. */
  JobsEnded: { unit: 'Count', dimension: 'outcome' },
  /** Attempts that ended and were queued again, by the pilot error code they ended with. */
  RetriesByErrorCode: { unit: 'Count', dimension: 'pilotErrorCode' },
  /** How long a claim took to answer (the claim function). */
  ClaimLatency: { unit: 'Milliseconds' },
  /** Pilots whose lease expired (the reaper). */
  PilotsLost: { unit: 'Count' },
  /** Jobs the reaper queued again because their pilot went silent. */
  JobsRequeued: { unit: 'Count' },
  ClaimsAbandoned: { unit: 'Count' },
  DeadLettersRedriven: { unit: 'Count' },
  /** Jobs dispatch released to site queues. */
  JobsReleased: { unit: 'Count' },
  /** Job messages waiting in a site's queues when dispatch looked (per site). */
  QueueDepth: { unit: 'Count', dimension: 'siteId' },
  /** DynamoDB requests refused for throughput (ProvisionedThroughputExceeded, Throttling). */
  DynamoDbThrottles: { unit: 'Count' },
  SitesExcluded: { unit: 'Count' },
  SitesRestored: { unit: 'Count' },
  SiteTestsSent: { unit: 'Count' },
  SiteTestsFailed: { unit: 'Count' },
  /** Task state changes published to the event bus (the tasks table's change feed). */
  TaskEventsPublished: { unit: 'Count' },
  /** Webhook POSTs answered 2xx. */
  WebhooksDelivered: { unit: 'Count' },
  /** Webhook POSTs that failed (to be retried, or given up). */
  WebhookAttemptsFailed: { unit: 'Count' },
  /** Webhook deliveries given up after their last attempt. */
  WebhookDeliveriesFailed: { unit: 'Count' },
  /** Files the transfer service copied and verified (a rule's replica made available). */
  FilesTransferred: { unit: 'Count' },
  /** Transfer attempts that failed (a corrupt copy, an S3 error, no source): tried again after a back-off. */
  TransferAttemptsFailed: { unit: 'Count' },
  /** Transfers given up after their last attempt (the rule is stuck). */
  TransfersFailed: { unit: 'Count' },
} as const satisfies Record<string, { unit: 'Count' | 'Milliseconds'; dimension?: string }>;

export type MetricName = keyof typeof METRICS;
export const METRIC_NAMES = Object.keys(METRICS) as MetricName[];

export function isMetricName(name: string): name is MetricName {
  return Object.hasOwn(METRICS, name);
}
