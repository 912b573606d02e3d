/**
 * What each function may touch, from its use case (core/use-cases) — the single table the stack
 * turns into IAM grants. A function without an entry fails the synth.
 */
import type { TableKey } from '#adapters/dynamodb/tables.ts';

export type TableAccess = 'read' | 'write' | 'read-write';

/**
 * Site queues are created at run time, so access is granted on the name pattern `<prefix>site-*`.
 * `depth`: sqs:GetQueueAttributes (the approximate number of waiting job messages).
 * `create`: sqs:CreateQueue of a site's queue and DLQ, and sqs:GetQueueAttributes (the DLQ's ARN
 * for the redrive policy); SqsJobQueue.ensureSiteQueue.
 */
export type SiteQueueAccess = 'send' | 'get-url' | 'depth' | 'create';

/** `start`: states:StartExecution; `release-wait`: states:SendTaskSuccess (the wait step's token). */
export type WorkflowAccess = 'start' | 'release-wait';

/** `put-sandbox`: s3:PutObject on `sandboxes/*` (the function signs presigned upload URLs). */
export type BucketAccess = 'put-sandbox';

/**
 * `vend`: sts:AssumeRole + sts:TagSession on the PilotCredentials role only (whose trust policy
 * names this function's role), and GLUON_PILOT_ROLE_ARN in the function's environment: the
 * function hands pilots short-lived credentials narrowed to their site (StsCredentialVendor).
 */
export type PilotCredentialsAccess = 'vend';

export interface FunctionAccess {
  tables: Partial<Record<TableKey, TableAccess>>;
  siteQueues?: SiteQueueAccess[];
  workflow?: WorkflowAccess[];
  bucket?: BucketAccess[];
  pilotCredentials?: PilotCredentialsAccess[];
}

/**
 * Sending resolves the queue URL by name first (GetQueueUrl, cached per cold start), so every
 * sender also gets `get-url`. SendMessageBatch is authorised by sqs:SendMessage.
 */
export const FUNCTION_ACCESS: Readonly<Record<string, FunctionAccess>> = {
  'submit-task': { tables: { tasks: 'read-write' }, workflow: ['start'] },
  'list-tasks': { tables: { tasks: 'read' } },
  'get-task': { tables: { tasks: 'read' } },
  'list-jobs': { tables: { tasks: 'read', jobs: 'read' } },
  'cancel-task': { tables: { tasks: 'read-write', jobs: 'read-write' }, workflow: ['release-wait'] },
  'create-sandbox': { tables: {}, bucket: ['put-sandbox'] },
  'list-pilots': { tables: { pilots: 'read' } },
  'register-pilot': {
    tables: { pilots: 'write', sites: 'read' },
    siteQueues: ['get-url'],
    pilotCredentials: ['vend'],
  },
  'renew-pilot-credentials': {
    tables: { pilots: 'read' },
    siteQueues: ['get-url'],
    pilotCredentials: ['vend'],
  },
  /** countBySite is a Scan of the pilots table; the depth resolves the queue URL first. */
  'site-demand': { tables: { pilots: 'read', sites: 'read' }, siteQueues: ['get-url', 'depth'] },
  'explain-task': {
    tables: { tasks: 'read', sites: 'read', pilots: 'read' },
    siteQueues: ['get-url', 'depth'],
  },
  'list-sites': { tables: { sites: 'read' } },
  /** Creates the site's queue and DLQ (an existing queue's URL is looked up), then stores the site. */
  'put-site': { tables: { sites: 'write' }, siteQueues: ['create', 'get-url'] },
  'claim-job': {
    tables: { tasks: 'read-write', jobs: 'read-write', pilots: 'read-write' },
    workflow: ['release-wait'],
  },
  heartbeat: { tables: { tasks: 'read-write', jobs: 'read-write', pilots: 'read-write' } },
  'complete-job': {
    // sites: a retry with more memory or time is capped by the site's slot.
    tables: { tasks: 'read-write', jobs: 'read-write', pilots: 'read-write', sites: 'read' },
    siteQueues: ['send', 'get-url'],
    workflow: ['release-wait'],
  },
  'split-task': { tables: { tasks: 'read-write', sites: 'read' } },
  'enqueue-jobs': { tables: { tasks: 'read-write', jobs: 'write' }, siteQueues: ['send', 'get-url'] },
  'wait-for-jobs': { tables: { tasks: 'read-write' }, workflow: ['release-wait'] },
  'finalize-task': { tables: { tasks: 'read-write' } },
  'fail-task': { tables: { tasks: 'read-write' } },
  'reap-leases': {
    tables: { tasks: 'read-write', jobs: 'read-write', pilots: 'read-write', sites: 'read' },
    siteQueues: ['send', 'get-url'],
    workflow: ['release-wait'],
  },
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
