/**
 * What each function may touch, from its use case (core/<capability>/) — the single table the stack
 * turns into IAM grants. A function without an entry fails the synth.
 */
import type { TableKey } from '#adapters/dynamodb/tables.ts';

export type TableAccess = 'read' | 'write' | 'read-write';

/**
 * Site queues are created at run time, so access is granted on the name pattern `<prefix>site-*`.
 * `depth`: sqs:GetQueueAttributes (the approximate number of waiting job messages).
 * `create`: sqs:CreateQueue of a site's queue and DLQ, and sqs:GetQueueAttributes (the DLQ's ARN
 * for the redrive policy); SqsJobQueue.ensureSiteQueue.
 * `redrive`: receive, delete and change the visibility of messages in the site DLQs
 * (SqsJobQueue.redriveDeadLetters).
 */
export type SiteQueueAccess = 'send' | 'get-url' | 'depth' | 'create' | 'redrive';

/**
 * Range queues (one per event-service task, with its DLQ) are created at run time too: access is
 * granted on the name pattern `<prefix>ranges-*`, which holds their DLQs as well.
 * `create`: sqs:CreateQueue of a task's queue and DLQ, and sqs:GetQueueAttributes (the DLQ's ARN
 * for the redrive policy); SqsRangeQueue.ensureTaskQueue.
 * `delete`: sqs:DeleteQueue of both when the task ends (SqsRangeQueue.deleteTaskQueues).
 * `send`: sqs:SendMessage to the range queues, denied on their DLQs unless with
 * `send-dead-letters` (SqsRangeQueue.sendDeadLetters: the messages of fatal ranges).
 */
export type RangeQueueAccess = 'create' | 'delete' | 'get-url' | 'send' | 'send-dead-letters';

/** `start`: states:StartExecution; `release-wait`: states:SendTaskSuccess (the wait step's token). */
export type WorkflowAccess = 'start' | 'release-wait';

/**
 * `put-sandbox`: s3:PutObject on `sandboxes/*` (the function signs presigned upload URLs).
 * `get-results`: s3:GetObject on `tasks/*` (the function signs presigned download URLs of logs and outputs).
 * `put-accounting`: s3:PutObject on `accounting/*` (the accounting exports).
 */
export type BucketAccess = 'put-sandbox' | 'get-results' | 'put-accounting';

/**
 * `vend`: sts:AssumeRole + sts:TagSession on the PilotCredentials role only (whose trust policy
 * names this function's role), and GLUON_PILOT_ROLE_ARN in the function's environment: the
 * function hands pilots short-lived credentials narrowed to their site (StsCredentialVendor).
 */
export type PilotCredentialsAccess = 'vend';

/** `put`: events:PutEvents on the task event bus, and GLUON_EVENT_BUS_NAME in the function's environment. */
export type EventBusAccess = 'put';

/**
 * The transfer service: `send` sqs:SendMessage on the transfers queue (and GLUON_TRANSFER_QUEUE_URL
 * in the function's environment); `consume` the queue's event source mapping; `copy` the copier's
 * S3 grants on the endpoints' buckets (cdk/constructs/transfers.ts).
 */
export type TransferAccess = 'send' | 'consume' | 'copy';

export interface FunctionAccess {
  tables: Partial<Record<TableKey, TableAccess>>;
  /** Tables whose change feed (stream) the function consumes, through an event source mapping. */
  streams?: TableKey[];
  siteQueues?: SiteQueueAccess[];
  rangeQueues?: RangeQueueAccess[];
  workflow?: WorkflowAccess[];
  bucket?: BucketAccess[];
  pilotCredentials?: PilotCredentialsAccess[];
  eventBus?: EventBusAccess[];
  /**
   * `list-read`: s3:ListBucket and s3:GetObject on storage endpoints' buckets: the results bucket
   * (`tasks/*`) and the stage's `catalog.dataBuckets`. Endpoints are runtime data, so the buckets
   * a registration from a listing may read are named in the stage config, not derived.
   */
  endpointBuckets?: Array<'list-read'>;
  transfers?: TransferAccess[];
  /** The same as `workflow`, on the meta-task state machine. */
  metaTaskWorkflow?: WorkflowAccess[];
}

/**
 * Sending resolves the queue URL by name first (GetQueueUrl, cached per cold start), so every
 * sender also gets `get-url`. SendMessageBatch is authorised by sqs:SendMessage.
 */
export const FUNCTION_ACCESS: Readonly<Record<string, FunctionAccess>> = {
  /** The task, and its output dataset (the catalog; checked, then created); a dataset task's input dataset must exist. */
  'submit-task': { tables: { tasks: 'read-write', catalog: 'read-write' }, workflow: ['start'] },
  'list-tasks': { tables: { tasks: 'read' } },
  'get-task': { tables: { tasks: 'read' } },
  'list-jobs': { tables: { tasks: 'read', jobs: 'read' } },
  'get-job': { tables: { tasks: 'read', jobs: 'read', attempts: 'read' } },
  /** Sets the flag and releases the workflow's wait (the cancel step does the rest). */
  'cancel-task': { tables: { tasks: 'read-write', policies: 'write' }, workflow: ['release-wait'] },
  'create-sandbox': { tables: {}, bucket: ['put-sandbox'] },
  /** The owner steers the task: a flag or a priority on its head. */
  'pause-task': { tables: { tasks: 'read-write', policies: 'write' } },
  /** Resuming wakes the workflow's wait (its resume step sends the queued jobs' messages again). */
  'resume-task': { tables: { tasks: 'read-write', policies: 'write' }, workflow: ['release-wait'] },
  'set-task-priority': { tables: { tasks: 'read-write', policies: 'write' } },
  /**
   * Checks the chosen jobs and the sites, gives the task its resubmit order; starts a reopened
   * task's execution, or wakes a running one's wait step.
   */
  'resubmit-task': {
    tables: { tasks: 'read-write', jobs: 'read', sites: 'read' },
    workflow: ['start', 'release-wait'],
  },
  'list-pilots': { tables: { pilots: 'read', leases: 'read' } },
  /**
   * A retried registration (same key) reads the pilot it registered, and its lease. sites: an
   * unhealthy pilot is counted in its site's recent outcomes.
   */
  'register-pilot': {
    tables: { pilots: 'read-write', leases: 'read-write', sites: 'read-write' },
    siteQueues: ['get-url'],
    pilotCredentials: ['vend'],
  },
  'renew-pilot-credentials': {
    tables: { leases: 'read' },
    siteQueues: ['get-url'],
    pilotCredentials: ['vend'],
  },
  /** The census is on the site record (the reaper takes it); the depth resolves the queue URL first. */
  'site-demand': { tables: { sites: 'read' }, siteQueues: ['get-url', 'depth'] },
  // accounting: a budgeted task's cost so far.
  'explain-task': {
    tables: { tasks: 'read', sites: 'read', accounting: 'read' },
    siteQueues: ['get-url', 'depth'],
  },
  /** The job with its attempts, the task's brokerage decision, its site's census and queue depth. */
  'explain-job': {
    // policies: the share tree, usage and caps, for where the owner stands in fair share; accounting: a budgeted task's cost.
    tables: {
      tasks: 'read',
      jobs: 'read',
      attempts: 'read',
      sites: 'read',
      policies: 'read',
      accounting: 'read',
    },
    siteQueues: ['get-url', 'depth'],
  },
  'list-sites': { tables: { sites: 'read' } },
  'get-shares': { tables: { policies: 'read' } },
  'put-shares': { tables: { policies: 'read-write' } },
  /**
   * Tops the site queues up in fair-share order: tasks in dispatch, shares, usage; counters of capped
   * users' and budgeted tasks; accounting: a budgeted task's cost so far.
   */
  'dispatch-jobs': {
    tables: { policies: 'read-write', tasks: 'read-write', sites: 'read', accounting: 'read' },
    siteQueues: ['send', 'get-url', 'depth'],
  },
  /** Creates the site's queue and DLQ (an existing queue's URL is looked up), then stores the site. */
  'put-site': { tables: { sites: 'read-write' }, siteQueues: ['create', 'get-url'] },
  /**
   * sites: a retry with more memory or time is capped by the site's slot. ranges: a merge job's inputs are its block of finished ranges;
   * a consumer gets its range queue's URL.
   */
  'claim-job': {
    tables: {
      tasks: 'read',
      jobs: 'read-write',
      leases: 'read-write',
      sites: 'read',
      ranges: 'read',
      policies: 'read',
    },
    rangeQueues: ['get-url'],
  },
  /** A job not started is written cancelled; a running one gets a kill entry on its pilot's lease. */
  'kill-job': { tables: { tasks: 'read', jobs: 'read-write', leases: 'write' } },
  /** policies: the retry rules decide a failed attempt (claims carry reports too). */
  'complete-job': {
    tables: { tasks: 'read', jobs: 'read-write', leases: 'read-write', sites: 'read', policies: 'read' },
  },
  /**
   * The change feed: messages of requeued attempts, the attempt archive, counters, kills of late claims, the workflow's release; sites' outcomes.
   * accounting: usage records and roll-ups (a transaction of puts and updates); policies: the owner's group.
   */
  'record-job-changes': {
    tables: {
      tasks: 'read-write',
      attempts: 'write',
      leases: 'write',
      sites: 'read-write',
      accounting: 'write',
      // An attempt at a paid site costs its pilot's hourly price.
      pilots: 'read',
      policies: 'read',
      // Finished jobs' outputs registered in their task's output dataset.
      catalog: 'read-write',
    },
    siteQueues: ['send', 'get-url'],
    workflow: ['release-wait'],
    streams: ['jobs'],
  },
  /** Brokerage: the sites, the queue depth of those that could run the jobs; its decision stored. */
  'split-task': { tables: { tasks: 'read-write', sites: 'read' }, siteQueues: ['get-url', 'depth'] },
  /** Hands the task to dispatch and runs one dispatch round. */
  'enqueue-jobs': {
    tables: { tasks: 'read-write', policies: 'read-write', sites: 'read', accounting: 'read' },
    siteQueues: ['send', 'get-url', 'depth'],
  },
  'wait-for-jobs': { tables: { tasks: 'read-write' }, workflow: ['release-wait'] },
  'cancel-jobs': { tables: { tasks: 'read-write', jobs: 'read', leases: 'read-write' } },
  /** After a pause: the messages of the queued jobs again. */
  'resume-jobs': { tables: { tasks: 'read-write', jobs: 'read' }, siteQueues: ['send', 'get-url'] },
  /** Queues the resubmitted jobs again (the change feed sends their messages); site slots for their resources. */
  'resubmit-jobs': { tables: { tasks: 'read-write', jobs: 'read-write', sites: 'read' } },
  /** jobs: an event-service task's outputs are its merge jobs' outputs. */
  'finalize-task': { tables: { tasks: 'read-write', jobs: 'read', policies: 'write' } },
  'fail-task': { tables: { tasks: 'read-write', policies: 'write' } },
  /** Sizes a scouted task from its scouts' job records (sites: their slots), then dispatch as enqueue-jobs. */
  'size-task': {
    tables: { tasks: 'read-write', jobs: 'read', policies: 'read-write', sites: 'read', accounting: 'read' },
    siteQueues: ['send', 'get-url', 'depth'],
  },
  /** A dataset task's files and replicas from the catalog, stored with the task; added jobs to dispatch. */
  'resolve-inputs': {
    tables: {
      tasks: 'read-write',
      catalog: 'read-write',
      policies: 'read-write',
      sites: 'read',
      accounting: 'read',
    },
    siteQueues: ['send', 'get-url', 'depth'],
    // `inputs.rule`: the task's rule made (catalog items) and its transfers sent.
    transfers: ['send'],
  },
  // Event service.
  /** Makes the task's range queue (lease: the visibility timeout) and sends its range messages. */
  'enqueue-ranges': { tables: { tasks: 'read-write' }, rangeQueues: ['create', 'get-url', 'send'] },
  /** Adds the merge jobs to the task and sends their messages to the site queues. */
  'merge-ranges': { tables: { tasks: 'read-write' }, siteQueues: ['send', 'get-url'] },
  /** The task is over: its range queue and DLQ go. */
  'close-range-queue': { tables: { tasks: 'read' }, rangeQueues: ['get-url', 'delete'] },
  /** The ranges' change feed: retries back to the range queue, fatal ranges to its DLQ, counters. */
  'record-range-changes': {
    tables: { tasks: 'read-write' },
    rangeQueues: ['get-url', 'send', 'send-dead-letters'],
    streams: ['ranges'],
  },
  /** One conditional write per reported range; the consumer's lease says it holds the job. */
  'report-ranges': { tables: { tasks: 'read', leases: 'read', ranges: 'read-write' } },
  'list-ranges': { tables: { tasks: 'read', ranges: 'read' } },
  /** Leases swept, jobs of lost pilots requeued (the feed sends their messages), census, DLQ redrive. */
  'reap-pilots': {
    tables: {
      tasks: 'read',
      jobs: 'read-write',
      leases: 'read-write',
      pilots: 'read-write',
      sites: 'read-write',
      policies: 'read',
    },
    siteQueues: ['send', 'get-url', 'redrive'],
  },
  // Retry policy as data: the rules' versions in the policies table.
  'get-retry-policy': { tables: { policies: 'read' } },
  'list-retry-policy-versions': { tables: { policies: 'read' } },
  'put-retry-policy': { tables: { policies: 'read-write' } },
  /** A replay reads the tasks' jobs and archived attempts, the sites' slots and the current rules; writes nothing. */
  'test-retry-policy': {
    tables: { tasks: 'read', jobs: 'read', attempts: 'read', sites: 'read', policies: 'read' },
  },
  /** One site, its outcomes and history (side items of the sites table), and its test task's state. */
  'get-site': { tables: { sites: 'read', tasks: 'read' } },
  /** Reads metrics back; nothing on AWS until a CloudWatch reader is wired (the dashboard shows them). */
  'get-metrics': { tables: {} },
  /** Site health: judges sites' outcomes, moves their status, submits and cancels their test tasks. */
  'site-health': {
    // policies: a cancelled test task leaves dispatch.
    tables: { sites: 'read-write', tasks: 'read-write', policies: 'write' },
    workflow: ['start', 'release-wait'],
  },
  /** Results: the job and its attempts name the objects; the URLs are signed with the function's role. */
  'get-job-log': { tables: { tasks: 'read', jobs: 'read', attempts: 'read' }, bucket: ['get-results'] },
  'get-job-output': { tables: { tasks: 'read', jobs: 'read' }, bucket: ['get-results'] },
  'list-task-outputs': { tables: { tasks: 'read', jobs: 'read' } },
  // Accounting.
  /** Roll-ups by key: a range of days is one query (operators) or one get per day (a user's own). */
  'get-accounting': { tables: { accounting: 'read' } },
  /** A day's usage records (a query per shard) to `accounting/` in the bucket, as CSV and Parquet. */
  'export-accounting': { tables: { accounting: 'read' }, bucket: ['put-accounting'] },
  'export-accounting-daily': { tables: { accounting: 'read' }, bucket: ['put-accounting'] },
  // Notifications.
  'add-webhook': { tables: { webhooks: 'read-write' } },
  'list-webhooks': { tables: { webhooks: 'read' } },
  'remove-webhook': { tables: { webhooks: 'write' } },
  /** The tasks table's change feed (head items only): state changes to the event bus; counts read. */
  /** Also the catalog's hook on task ends: merged outputs registered, the output dataset closed. */
  'publish-task-events': {
    tables: { tasks: 'read', catalog: 'read-write' },
    streams: ['tasks'],
    eventBus: ['put'],
    // A meta-task node's task end wakes the meta-task's wait (its token is on the meta-task's item).
    metaTaskWorkflow: ['release-wait'],
  },
  /** Task ends from the bus: the owner's webhooks read, a delivery written per webhook. */
  'deliver-webhooks': { tables: { webhooks: 'read-write' } },
  /** Due deliveries (the `due` index) attempted again. */
  'retry-webhooks': { tables: { webhooks: 'read-write' } },
  /**
   * Every catalog operation (one function): the catalog table; sites read (an endpoint's sites
   * must exist); endpoint buckets listed and read (registration from a listing).
   */
  'catalog-api': { tables: { catalog: 'read-write', sites: 'read' }, endpointBuckets: ['list-read'] },
  // Replication rules and the transfer service.
  /** Rules and locks (catalog items); the DID's files and replicas read, destination replicas written copying; transfers sent. */
  'rules-api': { tables: { catalog: 'read-write' }, transfers: ['send'] },
  /** One file per message: copied, verified, its replica and lock written; a retry sent with a delay. */
  'transfer-files': { tables: { catalog: 'read-write' }, transfers: ['send', 'consume', 'copy'] },
  // Meta-tasks (items of the tasks table).
  /**
   * Every meta-task operation: submit (its workflow started), read, and cancel, pause, resume
   * (the nodes' tasks through the task use cases, which flag them, leave dispatch and wake their
   * workflows), retry (a new execution).
   */
  'meta-task-api': {
    tables: { tasks: 'read-write', policies: 'write' },
    workflow: ['release-wait'],
    metaTaskWorkflow: ['start', 'release-wait'],
  },
  /** Starts ready nodes as tasks (the submit use case: the task workflow started). */
  'advance-meta-task': { tables: { tasks: 'read-write', catalog: 'read-write' }, workflow: ['start'] },
  /** Stores the wait token; releases it at once when a node already ended. */
  'wait-for-nodes': { tables: { tasks: 'read-write' }, metaTaskWorkflow: ['release-wait'] },
};

export function functionAccess(name: string): FunctionAccess {
  const access = FUNCTION_ACCESS[name];
  if (access === undefined) {
    throw new Error(
      `no access entry for function ${name} in cdk/function-access.ts: add one (least privilege)`,
    );
  }
  return access;
}
