import type { AccountingExports, AccountingStore } from './accounting/ports.ts';
import type { CatalogStore } from './catalog/ports.ts';
import type { EventRangeStore, RangeQueue } from './event-ranges/ports.ts';
import type { JobQueue, JobStore } from './jobs/ports.ts';
import type { MetaTaskStore, MetaTaskWorkflow } from './meta-tasks/ports.ts';
import type { MetricsReader } from './metrics/ports.ts';
import type { WebhookIds } from './notifications/manage-webhooks.ts';
import type { EventBus, NotificationSettings, WebhookSender, WebhookStore } from './notifications/ports.ts';
import type { CredentialVendor, PilotLeaseStore, PilotStore } from './pilots/ports.ts';
import type { PolicyStore, RetryPolicyStore } from './policies/ports.ts';
import type { SiteStore } from './sites/ports.ts';
import type { BucketReader, ObjectStore } from './storage/ports.ts';
import type { TaskStore, WorkflowEngine } from './tasks/ports.ts';

export interface Clock {
  now(): Date;
}

export interface Ids {
  taskId(): string;
  /**
   * A new pilot id; for a pilot's registration key, the same id every time (so a retried
   * registration finds its pilot), from which the key cannot be read back.
   */
  pilotId(registrationKey?: string): string;
}

export interface Settings {
  /** A pilot lease not renewed for this long expires: the pilot is lost and its jobs are queued again. */
  leaseSec: number;
  /** How often pilots renew their lease (well under leaseSec). */
  heartbeatSec: number;
  /** Event ranges whose messages are sent per enqueue step. */
  rangePageSize: number;
  /** The visibility timeout of range queues: a range's lease, which consumers extend while it runs. */
  rangeLeaseSec: number;
  /** How often an open-ended task looks for new files of its open dataset (default 60 s). */
  inputPollSec?: number;
}

/** Everything a use case may need; each use case takes only the part it uses (`Pick<Deps, …>`). */
export interface Deps {
  tasks: TaskStore;
  jobs: JobStore;
  pilots: PilotStore;
  leases: PilotLeaseStore;
  sites: SiteStore;
  /** The VO's policies as data: shares, usage, the tasks in dispatch. */
  policies: PolicyStore;
  queue: JobQueue;
  ranges: EventRangeStore;
  rangeQueue: RangeQueue;
  objects: ObjectStore;
  workflow: WorkflowEngine;
  credentials: CredentialVendor;
  clock: Clock;
  ids: Ids;
  settings: Settings;
  /** The retry rules' versions (the policies table). */
  retryPolicies: RetryPolicyStore;
  /** Usage records and their roll-ups (the accounting table). */
  accounting: AccountingStore;
  /** Where accounting exports are written (the results bucket, `accounting/`). */
  accountingExports: AccountingExports;
  /** Task events (EventBridge on AWS, the local stack's bus). */
  events: EventBus;
  /** Users' webhooks and their deliveries, how they are sent, and the deployment's rules for them. */
  webhooks: WebhookStore;
  webhookSender: WebhookSender;
  webhookIds: WebhookIds;
  notifications: NotificationSettings;
  /** The operators' metrics, read back (CloudWatch on AWS, the local stack's metric lines). */
  metricsReader: MetricsReader;
  /** The data catalog: files, datasets, replicas, storage endpoints, scopes (the catalog table). */
  catalog: CatalogStore;
  /** Meta-tasks (items of the tasks table) and their workflow (statemachines/meta-task.asl.json). */
  metaTasks: MetaTaskStore;
  metaTaskWorkflow: MetaTaskWorkflow;
  /** Storage endpoints' buckets, listed and read to register files from a listing. */
  buckets: BucketReader;
}

/** Who calls: the subject of the token and its scopes. Pilots have subjects `pilot:<siteId>`. */
export interface Principal {
  sub: string;
  scopes: string[];
}
