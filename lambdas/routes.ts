import type { Scope } from '#core/api/common.ts';
import { type HttpMethod, OPERATIONS, type OperationId } from '#core/api/operations.ts';

/**
 * Which function serves each API operation, runs each workflow step, each schedule and each change
 * feed; the local stack and the CDK app both read these tables. Each function's handler lives in
 * `lambdas/<capability>/<name>/`.
 */
export type Capability =
  | 'tasks'
  | 'jobs'
  | 'event-ranges'
  | 'pilots'
  | 'sites'
  | 'policies'
  | 'accounting'
  | 'notifications'
  | 'metrics'
  | 'catalog'
  | 'transfers'
  | 'meta-tasks'
  | 'provisioning';

/** The function of each operation (core/api/operations.ts). */
export const OPERATION_FUNCTIONS: Readonly<Record<OperationId, string>> = {
  submitTask: 'submit-task',
  listTasks: 'list-tasks',
  getTask: 'get-task',
  listJobs: 'list-jobs',
  getJob: 'get-job',
  killJob: 'kill-job',
  listRanges: 'list-ranges',
  reportRanges: 'report-ranges',
  cancelTask: 'cancel-task',
  explainTask: 'explain-task',
  explainJob: 'explain-job',
  pauseTask: 'pause-task',
  resumeTask: 'resume-task',
  setTaskPriority: 'set-task-priority',
  resubmitTask: 'resubmit-task',
  createSandbox: 'create-sandbox',
  listPilots: 'list-pilots',
  registerPilot: 'register-pilot',
  claimJob: 'claim-job',
  completeJob: 'complete-job',
  renewPilotCredentials: 'renew-pilot-credentials',
  siteDemand: 'site-demand',
  listSites: 'list-sites',
  putSite: 'put-site',
  getShares: 'get-shares',
  putShares: 'put-shares',
  getRetryPolicy: 'get-retry-policy',
  listRetryPolicyVersions: 'list-retry-policy-versions',
  putRetryPolicy: 'put-retry-policy',
  testRetryPolicy: 'test-retry-policy',
  getSite: 'get-site',
  getSiteProvisioning: 'get-site',
  getJobLog: 'get-job-log',
  getJobOutput: 'get-job-output',
  listTaskOutputs: 'list-task-outputs',
  getAccounting: 'get-accounting',
  exportAccounting: 'export-accounting',
  addWebhook: 'add-webhook',
  listWebhooks: 'list-webhooks',
  removeWebhook: 'remove-webhook',
  getMetrics: 'get-metrics',
  // One function for every catalog operation (CloudFormation's resource limit): it dispatches on the route.
  createScope: 'catalog-api',
  listScopes: 'catalog-api',
  putEndpoint: 'catalog-api',
  listEndpoints: 'catalog-api',
  createDataset: 'catalog-api',
  listDatasets: 'catalog-api',
  getDataset: 'catalog-api',
  closeDataset: 'catalog-api',
  listDatasetFiles: 'catalog-api',
  registerFiles: 'catalog-api',
  getFile: 'catalog-api',
  searchFiles: 'catalog-api',
  // One function for the rules' routes (it dispatches on the route key): CloudFormation's 500 resources.
  addRule: 'rules-api',
  listRules: 'rules-api',
  getRule: 'rules-api',
  removeRule: 'rules-api',
  // One function for every meta-task operation (CloudFormation's resource limit): it dispatches on the route.
  submitMetaTask: 'meta-task-api',
  listMetaTasks: 'meta-task-api',
  getMetaTask: 'meta-task-api',
  cancelMetaTask: 'meta-task-api',
  pauseMetaTask: 'meta-task-api',
  resumeMetaTask: 'meta-task-api',
  retryMetaTask: 'meta-task-api',
};

/** An HTTP route: the operation's method, path and scopes (any one admits), and its function. */
export interface Route {
  operationId: OperationId;
  method: HttpMethod;
  path: string;
  functionName: string;
  scopes: Scope[];
}

export const ROUTES: Route[] = (Object.keys(OPERATIONS) as OperationId[]).map((operationId) => ({
  operationId,
  method: OPERATIONS[operationId].method,
  path: OPERATIONS[operationId].path,
  functionName: OPERATION_FUNCTIONS[operationId],
  scopes: [...OPERATIONS[operationId].scopes],
}));

/** Functions run by the task workflow (state name in the ASL → function). */
export const WORKFLOW_FUNCTIONS = [
  'split-task',
  'enqueue-jobs',
  'wait-for-jobs',
  'cancel-jobs',
  'resume-jobs',
  'resubmit-jobs',
  'enqueue-ranges',
  'merge-ranges',
  'close-range-queue',
  'finalize-task',
  'fail-task',
  'size-task',
  'resolve-inputs',
] as const;

/** Functions run by the meta-task workflow (statemachines/meta-task.asl.json). */
export const META_TASK_WORKFLOW_FUNCTIONS = ['advance-meta-task', 'wait-for-nodes'] as const;

/** Functions run by a schedule (EventBridge Scheduler; timers locally). */
export const SCHEDULED_FUNCTIONS = [
  { functionName: 'reap-pilots', everySec: 60 },
  { functionName: 'dispatch-jobs', everySec: 60 },
  { functionName: 'site-health', everySec: 60 },
  { functionName: 'export-accounting-daily', everySec: 86_400 },
  { functionName: 'retry-webhooks', everySec: 60 },
  { functionName: 'provision-pilots', everySec: 60 },
] as const;

/** Functions fed by a table's change feed (DynamoDB Streams). */
export const STREAM_FUNCTIONS = [
  { functionName: 'record-job-changes', table: 'jobs' },
  { functionName: 'record-range-changes', table: 'ranges' },
  // Head items only (sk `task`): counters change far more often and carry no state.
  {
    functionName: 'publish-task-events',
    table: 'tasks',
    filter: { dynamodb: { Keys: { sk: { S: ['task'] } } } },
  },
] as const;

/**
 * Functions run by events on the task event bus (an EventBridge rule each; the local stack's bus
 * locally), with the rule's event pattern.
 */
export const EVENT_FUNCTIONS = [
  {
    functionName: 'deliver-webhooks',
    pattern: {
      source: ['gluon'],
      'detail-type': ['Task State Change'],
      detail: { to: ['done', 'failed', 'partial', 'cancelled'] },
    },
  },
] as const;

/**
 * Functions fed by one of our SQS queues (a Lambda event source mapping; the local stack's queue
 * poller locally): the queue, messages per invocation, and how long a message stays invisible
 * while a function has it (at least the function's timeout).
 */
export const QUEUE_FUNCTIONS = [
  { functionName: 'transfer-files', queue: 'transfers', batchSize: 5, visibilityTimeoutSec: 960 },
] as const;

/** The capability folder of each function. */
export const FUNCTION_CAPABILITY: Readonly<Record<string, Capability>> = {
  'submit-task': 'tasks',
  'list-tasks': 'tasks',
  'get-task': 'tasks',
  'cancel-task': 'tasks',
  'explain-task': 'tasks',
  'explain-job': 'tasks',
  'pause-task': 'tasks',
  'resume-task': 'tasks',
  'set-task-priority': 'tasks',
  'create-sandbox': 'tasks',
  'split-task': 'tasks',
  'enqueue-jobs': 'tasks',
  'wait-for-jobs': 'tasks',
  'cancel-jobs': 'tasks',
  'resume-jobs': 'tasks',
  'finalize-task': 'tasks',
  'fail-task': 'tasks',
  'resubmit-task': 'tasks',
  'resubmit-jobs': 'tasks',
  'list-jobs': 'jobs',
  'get-job': 'jobs',
  'kill-job': 'jobs',
  'claim-job': 'jobs',
  'complete-job': 'jobs',
  'record-job-changes': 'jobs',
  'list-ranges': 'event-ranges',
  'report-ranges': 'event-ranges',
  'record-range-changes': 'event-ranges',
  'enqueue-ranges': 'event-ranges',
  'merge-ranges': 'event-ranges',
  'close-range-queue': 'event-ranges',
  'list-pilots': 'pilots',
  'register-pilot': 'pilots',
  'renew-pilot-credentials': 'pilots',
  'reap-pilots': 'pilots',
  'list-sites': 'sites',
  'put-site': 'sites',
  'site-demand': 'sites',
  'get-shares': 'policies',
  'put-shares': 'policies',
  'dispatch-jobs': 'policies',
  'get-retry-policy': 'policies',
  'list-retry-policy-versions': 'policies',
  'put-retry-policy': 'policies',
  'test-retry-policy': 'policies',
  'get-site': 'sites',
  'site-health': 'sites',
  'size-task': 'tasks',
  'get-job-log': 'jobs',
  'get-job-output': 'jobs',
  'list-task-outputs': 'jobs',
  'get-accounting': 'accounting',
  'export-accounting': 'accounting',
  'export-accounting-daily': 'accounting',
  'add-webhook': 'notifications',
  'list-webhooks': 'notifications',
  'remove-webhook': 'notifications',
  'publish-task-events': 'notifications',
  'deliver-webhooks': 'notifications',
  'retry-webhooks': 'notifications',
  'get-metrics': 'metrics',
  'catalog-api': 'catalog',
  'rules-api': 'transfers',
  'transfer-files': 'transfers',
  'resolve-inputs': 'tasks',
  'meta-task-api': 'meta-tasks',
  'advance-meta-task': 'meta-tasks',
  'wait-for-nodes': 'meta-tasks',
  'provision-pilots': 'provisioning',
};

/** `claim-job` → `jobs/claim-job`, the function's directory under lambdas/. */
export function functionDir(name: string): string {
  const capability = FUNCTION_CAPABILITY[name];
  if (capability === undefined) throw new Error(`function ${name} has no capability in FUNCTION_CAPABILITY`);
  return `${capability}/${name}`;
}
