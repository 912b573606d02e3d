/**
 * The HTTP API, as one table: every operation's method, path, scopes and the zod schemas of its
 * path, query, body and answer. Handlers validate requests with these schemas at the edge, the
 * typed client (client/) validates answers with them, and the OpenAPI document is generated from
 * them (npm run openapi).
 */
import { z } from 'zod';
import { TaskSpecSchema } from '../tasks/task-spec.ts';
import {
  AccountingQuerySchema,
  AccountingViewSchema,
  ExportAccountingRequestSchema,
  ExportAccountingResponseSchema,
} from './accounting.ts';
import {
  CreateDatasetRequestSchema,
  CreateScopeRequestSchema,
  DatasetFilePageSchema,
  DatasetPageSchema,
  DatasetViewSchema,
  DidPathSchema,
  EndpointListSchema,
  EndpointPathSchema,
  EndpointViewSchema,
  FilePageSchema,
  FileViewSchema,
  ListDatasetsQuerySchema,
  PutEndpointRequestSchema,
  RegisterFilesRequestSchema,
  RegisterFilesResponseSchema,
  ScopeListSchema,
  ScopeViewSchema,
  SearchFilesQuerySchema,
} from './catalog.ts';
import {
  JobPathSchema,
  PageQuerySchema,
  PilotPathSchema,
  SCOPES,
  type Scope,
  SitePathSchema,
  TaskPathSchema,
} from './common.ts';
import {
  ListRangesQuerySchema,
  RangePageSchema,
  ReportRangesRequestSchema,
  ReportRangesResponseSchema,
} from './event-ranges.ts';
import {
  MetaTaskPageSchema,
  MetaTaskPathSchema,
  MetaTaskViewSchema,
  SubmitMetaTaskRequestSchema,
  SubmitMetaTaskResponseSchema,
} from './meta-tasks.ts';
import { MetricsQuerySchema, MetricsResponseSchema } from './metrics.ts';
import {
  AddWebhookRequestSchema,
  AddWebhookResponseSchema,
  RemoveWebhookResponseSchema,
  WebhookListSchema,
  WebhookPathSchema,
} from './notifications.ts';
import {
  ClaimRequestSchema,
  ClaimResponseSchema,
  CompleteRequestSchema,
  CompleteResponseSchema,
  PilotCredentialsSchema,
  PilotPageSchema,
  RegisterPilotRequestSchema,
  RegisterPilotResponseSchema,
} from './pilots.ts';
import { PutSharesRequestSchema, SharesViewSchema } from './policies.ts';
import {
  JobLogQuerySchema,
  JobLogResponseSchema,
  JobOutputPathSchema,
  JobOutputResponseSchema,
  TaskOutputsQuerySchema,
  TaskOutputsResponseSchema,
} from './results.ts';
import {
  PutRetryPolicyRequestSchema,
  RetryPolicyQuerySchema,
  RetryPolicyVersionPageSchema,
  RetryPolicyVersionsQuerySchema,
  RetryPolicyViewSchema,
  TestRetryPolicyRequestSchema,
  TestRetryPolicyResponseSchema,
} from './retry-policy.ts';
import {
  AddRuleRequestSchema,
  RuleListQuerySchema,
  RuleListSchema,
  RulePathSchema,
  RuleSchema,
} from './rules.ts';
import {
  PutSiteRequestSchema,
  SiteDemandSchema,
  SiteDetailSchema,
  SitePageSchema,
  SiteProvisioningSchema,
  SiteViewSchema,
} from './sites.ts';
import {
  CancelTaskResponseSchema,
  JobExplanationSchema,
  JobPageSchema,
  JobsQuerySchema,
  JobViewSchema,
  KillJobResponseSchema,
  ResubmitTaskRequestSchema,
  ResubmitTaskResponseSchema,
  SandboxRequestSchema,
  SandboxResponseSchema,
  SetPriorityRequestSchema,
  SteerTaskResponseSchema,
  SubmitTaskHeadersSchema,
  SubmitTaskResponseSchema,
  TaskExplanationSchema,
  TaskPageSchema,
  TaskViewSchema,
} from './tasks.ts';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface Operation<
  P extends z.ZodType = z.ZodType,
  Q extends z.ZodType = z.ZodType,
  B extends z.ZodType = z.ZodType,
  R extends z.ZodType = z.ZodType,
> {
  method: HttpMethod;
  /** With `{name}` path parameters, as API Gateway writes them. */
  path: string;
  /** Any one of them admits the caller (as the HTTP API JWT authorizer checks them). */
  scopes: Scope[];
  summary: string;
  tag:
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
    | 'meta-tasks';
  params?: P;
  query?: Q;
  body?: B;
  /** Request headers the operation reads (an object schema; names lower-case). */
  headers?: z.ZodType;
  response: R;
  /** The status of a success. */
  status: 200 | 201 | 202;
}

/** Keeps each operation's exact schemas in its type (the handlers' and the client's types follow). */
function operation<const T extends Operation>(op: T): T {
  return op;
}

const EmptyBodySchema = z.strictObject({});

export const OPERATIONS = {
  submitTask: operation({
    method: 'POST',
    path: '/tasks',
    scopes: [SCOPES.create],
    tag: 'tasks',
    summary:
      'Submit a task (its spec); its workflow splits it into jobs and queues them. ' +
      'With an Idempotency-Key header a repeated submit answers with the first task.',
    body: TaskSpecSchema,
    headers: SubmitTaskHeadersSchema,
    response: SubmitTaskResponseSchema,
    status: 201,
  }),
  listTasks: operation({
    method: 'GET',
    path: '/tasks',
    scopes: [SCOPES.read],
    tag: 'tasks',
    summary: "The caller's tasks, newest first, with their job counts.",
    query: PageQuerySchema,
    response: TaskPageSchema,
    status: 200,
  }),
  getTask: operation({
    method: 'GET',
    path: '/tasks/{taskId}',
    scopes: [SCOPES.read],
    tag: 'tasks',
    summary: 'One task: state, job counts, spec and history.',
    params: TaskPathSchema,
    response: TaskViewSchema,
    status: 200,
  }),
  listJobs: operation({
    method: 'GET',
    path: '/tasks/{taskId}/jobs',
    scopes: [SCOPES.read],
    tag: 'jobs',
    summary: "A task's jobs in index order, optionally only those in one state.",
    params: TaskPathSchema,
    query: JobsQuerySchema,
    response: JobPageSchema,
    status: 200,
  }),
  listRanges: operation({
    method: 'GET',
    path: '/tasks/{taskId}/ranges',
    scopes: [SCOPES.read],
    tag: 'event-ranges',
    summary: "An event-service task's event ranges in index order, optionally only those in one state.",
    params: TaskPathSchema,
    query: ListRangesQuerySchema,
    response: RangePageSchema,
    status: 200,
  }),
  getJob: operation({
    method: 'GET',
    path: '/tasks/{taskId}/jobs/{jobIndex}',
    scopes: [SCOPES.read],
    tag: 'jobs',
    summary: 'One job with every attempt it had.',
    params: JobPathSchema,
    response: JobViewSchema,
    status: 200,
  }),
  killJob: operation({
    method: 'POST',
    path: '/tasks/{taskId}/jobs/{jobIndex}/kill',
    scopes: [SCOPES.cancel],
    tag: 'jobs',
    summary: 'Kill one job: cancelled at once if not started, else its pilot kills it; the task runs on.',
    params: JobPathSchema,
    response: KillJobResponseSchema,
    status: 200,
  }),
  cancelTask: operation({
    method: 'POST',
    path: '/tasks/{taskId}/cancel',
    scopes: [SCOPES.cancel],
    tag: 'tasks',
    summary:
      'Cancel a task: no job of it starts any more; running jobs are killed by their pilots (answers at once).',
    params: TaskPathSchema,
    response: CancelTaskResponseSchema,
    status: 202,
  }),
  pauseTask: operation({
    method: 'POST',
    path: '/tasks/{taskId}/pause',
    scopes: [SCOPES.modify],
    tag: 'tasks',
    summary: 'Pause a task: no job of it starts until it is resumed; running jobs go on.',
    params: TaskPathSchema,
    response: SteerTaskResponseSchema,
    status: 200,
  }),
  resumeTask: operation({
    method: 'POST',
    path: '/tasks/{taskId}/resume',
    scopes: [SCOPES.modify],
    tag: 'tasks',
    summary: "Resume a paused task's dispatch.",
    params: TaskPathSchema,
    response: SteerTaskResponseSchema,
    status: 200,
  }),
  setTaskPriority: operation({
    method: 'PUT',
    path: '/tasks/{taskId}/priority',
    scopes: [SCOPES.modify],
    tag: 'tasks',
    summary: "Set a task's priority (0..1000), over its spec's.",
    params: TaskPathSchema,
    body: SetPriorityRequestSchema,
    response: SteerTaskResponseSchema,
    status: 200,
  }),
  resubmitTask: operation({
    method: 'POST',
    path: '/tasks/{taskId}/resubmit',
    scopes: [SCOPES.modify],
    tag: 'tasks',
    summary:
      'Run ended jobs of a task again (failed by default, by state or by index), optionally with new memory, walltime or sites; an ended task reopens and ends again when they end.',
    params: TaskPathSchema,
    body: ResubmitTaskRequestSchema,
    response: ResubmitTaskResponseSchema,
    status: 202,
  }),
  explainTask: operation({
    method: 'GET',
    path: '/tasks/{taskId}/why',
    scopes: [SCOPES.read],
    tag: 'tasks',
    summary: 'Why is my job pending: what holds the task’s jobs back, site by site, in words.',
    params: TaskPathSchema,
    response: TaskExplanationSchema,
    status: 200,
  }),
  explainJob: operation({
    method: 'GET',
    path: '/tasks/{taskId}/jobs/{jobIndex}/why',
    scopes: [SCOPES.read],
    tag: 'jobs',
    summary:
      'Why is this job where it is: the site it was sent to and why, its attempts, and for a queued job what keeps pilots from taking it.',
    params: JobPathSchema,
    response: JobExplanationSchema,
    status: 200,
  }),
  createSandbox: operation({
    method: 'POST',
    path: '/sandboxes',
    scopes: [SCOPES.create],
    tag: 'tasks',
    summary: 'Upload URLs for sandbox files (content-addressed per owner).',
    body: SandboxRequestSchema,
    response: SandboxResponseSchema,
    status: 200,
  }),
  listPilots: operation({
    method: 'GET',
    path: '/pilots',
    scopes: [SCOPES.read],
    tag: 'pilots',
    summary: 'Pilots, live and recently gone, with their leases.',
    query: PageQuerySchema,
    response: PilotPageSchema,
    status: 200,
  }),
  registerPilot: operation({
    method: 'POST',
    path: '/pilots',
    scopes: [SCOPES.pilot],
    tag: 'pilots',
    summary:
      'A pilot registers with its site, resources and node checks; it gets its lease (and credentials).',
    body: RegisterPilotRequestSchema,
    response: RegisterPilotResponseSchema,
    status: 200,
  }),
  claimJob: operation({
    method: 'POST',
    path: '/pilots/{pilotId}/claim',
    scopes: [SCOPES.pilot],
    tag: 'pilots',
    summary: 'Claim the job a queue message names, optionally reporting the attempt just ended.',
    params: PilotPathSchema,
    body: ClaimRequestSchema,
    response: ClaimResponseSchema,
    status: 200,
  }),
  completeJob: operation({
    method: 'POST',
    path: '/pilots/{pilotId}/complete',
    scopes: [SCOPES.pilot],
    tag: 'pilots',
    summary: 'Report the end of an attempt (when no next job is claimed with it). Replays are safe.',
    params: PilotPathSchema,
    body: CompleteRequestSchema,
    response: CompleteResponseSchema,
    status: 200,
  }),
  reportRanges: operation({
    method: 'POST',
    path: '/pilots/{pilotId}/ranges',
    scopes: [SCOPES.pilot],
    tag: 'event-ranges',
    summary:
      'Report a batch of event ranges (running, finished with their output, failed) of a consumer job the pilot holds. Replays are counted once.',
    params: PilotPathSchema,
    body: ReportRangesRequestSchema,
    response: ReportRangesResponseSchema,
    status: 200,
  }),
  renewPilotCredentials: operation({
    method: 'POST',
    path: '/pilots/{pilotId}/credentials',
    scopes: [SCOPES.pilot],
    tag: 'pilots',
    summary: 'Fresh short-lived credentials for a live pilot.',
    params: PilotPathSchema,
    body: EmptyBodySchema,
    response: PilotCredentialsSchema,
    status: 200,
  }),
  siteDemand: operation({
    method: 'GET',
    path: '/sites/{siteId}/demand',
    // Operators too: the web monitor's sites page shows each site's queued work.
    scopes: [SCOPES.pilot, SCOPES.admin],
    tag: 'sites',
    summary: 'How many pilots a site could use now, for its pilot factory.',
    params: SitePathSchema,
    response: SiteDemandSchema,
    status: 200,
  }),
  listSites: operation({
    method: 'GET',
    path: '/sites',
    scopes: [SCOPES.read, SCOPES.admin],
    tag: 'sites',
    summary: 'Every site, with its status, slot, cap and pilot census.',
    response: SitePageSchema,
    status: 200,
  }),
  getShares: operation({
    method: 'GET',
    path: '/shares',
    scopes: [SCOPES.read],
    tag: 'policies',
    summary: 'The fair-share tree in force, the decayed usage per user and group, and the tasks in dispatch.',
    response: SharesViewSchema,
    status: 200,
  }),
  putShares: operation({
    method: 'PUT',
    path: '/shares',
    scopes: [SCOPES.admin],
    tag: 'policies',
    summary:
      'Set the fair-share tree (groups, users, shares, caps, half-life); the next dispatch round follows it, for queued jobs too.',
    body: PutSharesRequestSchema,
    response: SharesViewSchema,
    status: 200,
  }),
  putSite: operation({
    method: 'PUT',
    path: '/sites/{siteId}',
    scopes: [SCOPES.admin],
    tag: 'sites',
    summary: 'Define or update a site; its job queue and DLQ are created first.',
    params: SitePathSchema,
    body: PutSiteRequestSchema,
    response: SiteViewSchema,
    status: 200,
  }),
  getRetryPolicy: operation({
    method: 'GET',
    path: '/retry-policy',
    scopes: [SCOPES.read, SCOPES.admin],
    tag: 'policies',
    summary: 'The current retry rules with their version (or the version asked for; 0: the built-in rules).',
    query: RetryPolicyQuerySchema,
    response: RetryPolicyViewSchema,
    status: 200,
  }),
  listRetryPolicyVersions: operation({
    method: 'GET',
    path: '/retry-policy/versions',
    scopes: [SCOPES.read, SCOPES.admin],
    tag: 'policies',
    summary:
      'Every version of the retry rules, newest first; version 0, the built-in rules, closes the list.',
    query: RetryPolicyVersionsQuerySchema,
    response: RetryPolicyVersionPageSchema,
    status: 200,
  }),
  putRetryPolicy: operation({
    method: 'PUT',
    path: '/retry-policy',
    scopes: [SCOPES.admin],
    tag: 'policies',
    summary:
      'Store new retry rules as the next version, which becomes current (functions use it within seconds).',
    body: PutRetryPolicyRequestSchema,
    response: RetryPolicyViewSchema,
    status: 200,
  }),
  testRetryPolicy: operation({
    method: 'POST',
    path: '/retry-policy/test',
    scopes: [SCOPES.read, SCOPES.admin],
    tag: 'policies',
    summary:
      'Replay the recorded failures of past tasks against proposed rules and the current ones: what would change.',
    body: TestRetryPolicyRequestSchema,
    response: TestRetryPolicyResponseSchema,
    status: 200,
  }),
  getSite: operation({
    method: 'GET',
    path: '/sites/{siteId}',
    scopes: [SCOPES.read, SCOPES.admin],
    tag: 'sites',
    summary: 'One site: its status and why, its recent outcomes, its test task and its status history.',
    params: SitePathSchema,
    response: SiteDetailSchema,
    status: 200,
  }),
  getSiteProvisioning: operation({
    method: 'GET',
    path: '/sites/{siteId}/provisioning',
    scopes: [SCOPES.read, SCOPES.admin],
    tag: 'sites',
    summary:
      "A cloud site's provisioning decisions: the last one (its instances or pilot jobs, what was asked and what held it back) and the history of those that asked for capacity or changed.",
    params: SitePathSchema,
    response: SiteProvisioningSchema,
    status: 200,
  }),
  getJobLog: operation({
    method: 'GET',
    path: '/tasks/{taskId}/jobs/{jobIndex}/log',
    scopes: [SCOPES.read, SCOPES.admin],
    tag: 'jobs',
    summary:
      "A presigned download URL of one attempt's log (the payload's stdout and stderr): the last ended attempt unless `attempt` is given.",
    params: JobPathSchema,
    query: JobLogQuerySchema,
    response: JobLogResponseSchema,
    status: 200,
  }),
  getJobOutput: operation({
    method: 'GET',
    path: '/tasks/{taskId}/jobs/{jobIndex}/outputs/{name}',
    scopes: [SCOPES.read, SCOPES.admin],
    tag: 'jobs',
    summary: 'A presigned download URL of one output of a job, with the size and adler32 its pilot recorded.',
    params: JobOutputPathSchema,
    response: JobOutputResponseSchema,
    status: 200,
  }),
  listTaskOutputs: operation({
    method: 'GET',
    path: '/tasks/{taskId}/outputs',
    scopes: [SCOPES.read, SCOPES.admin],
    tag: 'tasks',
    summary:
      "A task's outputs as its jobs recorded them (index, name, size, adler32), optionally of one job.",
    params: TaskPathSchema,
    query: TaskOutputsQuerySchema,
    response: TaskOutputsResponseSchema,
    status: 200,
  }),
  getAccounting: operation({
    method: 'GET',
    path: '/accounting',
    scopes: [SCOPES.read, SCOPES.admin],
    tag: 'accounting',
    summary:
      'Usage roll-ups per day by user, group or site (from..to, at most 366 days); users see their own (by=user), operators all.',
    query: AccountingQuerySchema,
    response: AccountingViewSchema,
    status: 200,
  }),
  exportAccounting: operation({
    method: 'POST',
    path: '/accounting/export',
    scopes: [SCOPES.admin],
    tag: 'accounting',
    summary:
      "Write one day's usage records to the bucket as CSV and Parquet (accounting/usage/format=…/day=…/), as the daily schedule does.",
    body: ExportAccountingRequestSchema,
    response: ExportAccountingResponseSchema,
    status: 200,
  }),
  addWebhook: operation({
    method: 'POST',
    path: '/notifications/webhooks',
    scopes: [SCOPES.create],
    tag: 'notifications',
    summary:
      "Add a webhook for the caller's own tasks: a signed POST when one ends. The answer shows its signing secret, once.",
    body: AddWebhookRequestSchema,
    response: AddWebhookResponseSchema,
    status: 201,
  }),
  listWebhooks: operation({
    method: 'GET',
    path: '/notifications/webhooks',
    scopes: [SCOPES.read],
    tag: 'notifications',
    summary:
      "The caller's webhooks, each with its latest deliveries (attempts, last status and error, next retry).",
    response: WebhookListSchema,
    status: 200,
  }),
  removeWebhook: operation({
    method: 'DELETE',
    path: '/notifications/webhooks/{webhookId}',
    scopes: [SCOPES.create],
    tag: 'notifications',
    summary: 'Remove one of the caller’s webhooks (pending deliveries to it are given up).',
    params: WebhookPathSchema,
    response: RemoveWebhookResponseSchema,
    status: 200,
  }),
  getMetrics: operation({
    method: 'GET',
    path: '/metrics',
    scopes: [SCOPES.admin],
    tag: 'metrics',
    summary:
      "The operators' metrics (job starts and ends, claim latency, retries, lost pilots, queue depth, throttles) as per-minute sums.",
    query: MetricsQuerySchema,
    response: MetricsResponseSchema,
    status: 200,
  }),
  // The data catalog (issue 11): one function, catalog-api, serves every operation below.
  createScope: operation({
    method: 'POST',
    path: '/catalog/scopes',
    scopes: [SCOPES.admin],
    tag: 'catalog',
    summary: 'Make a scope (a namespace of files and datasets) and say who may write in it (operators).',
    body: CreateScopeRequestSchema,
    response: ScopeViewSchema,
    status: 201,
  }),
  listScopes: operation({
    method: 'GET',
    path: '/catalog/scopes',
    scopes: [SCOPES.read, SCOPES.admin],
    tag: 'catalog',
    summary: "The scopes operators made, with their owners, and the caller's own (user.<name>).",
    response: ScopeListSchema,
    status: 200,
  }),
  putEndpoint: operation({
    method: 'PUT',
    path: '/catalog/endpoints/{endpointId}',
    scopes: [SCOPES.admin],
    tag: 'catalog',
    summary:
      'Define or update a storage endpoint (an S3 bucket and prefix, or a URL root) and the sites close to it (operators).',
    params: EndpointPathSchema,
    body: PutEndpointRequestSchema,
    response: EndpointViewSchema,
    status: 200,
  }),
  listEndpoints: operation({
    method: 'GET',
    path: '/catalog/endpoints',
    scopes: [SCOPES.read, SCOPES.admin],
    tag: 'catalog',
    summary: "The storage endpoints, the deployment's results bucket (GLUON-RESULTS) first.",
    response: EndpointListSchema,
    status: 200,
  }),
  createDataset: operation({
    method: 'POST',
    path: '/catalog/datasets',
    scopes: [SCOPES.create, SCOPES.admin],
    tag: 'catalog',
    summary:
      'Create an open dataset scope:name in a scope the caller may write in (409 if the name is taken).',
    body: CreateDatasetRequestSchema,
    response: DatasetViewSchema,
    status: 201,
  }),
  listDatasets: operation({
    method: 'GET',
    path: '/catalog/datasets',
    scopes: [SCOPES.read, SCOPES.admin],
    tag: 'catalog',
    summary: 'The datasets of a scope by name, from a name prefix.',
    query: ListDatasetsQuerySchema,
    response: DatasetPageSchema,
    status: 200,
  }),
  getDataset: operation({
    method: 'GET',
    path: '/catalog/datasets/{did}',
    scopes: [SCOPES.read, SCOPES.admin],
    tag: 'catalog',
    summary: 'A dataset (scope:name, URL-encoded): its state, totals of files, bytes and events.',
    params: DidPathSchema,
    response: DatasetViewSchema,
    status: 200,
  }),
  closeDataset: operation({
    method: 'POST',
    path: '/catalog/datasets/{did}/close',
    scopes: [SCOPES.create, SCOPES.admin],
    tag: 'catalog',
    summary: 'Close a dataset: it takes no more files (tasks reading it until closed then stop waiting).',
    params: DidPathSchema,
    response: DatasetViewSchema,
    status: 200,
  }),
  listDatasetFiles: operation({
    method: 'GET',
    path: '/catalog/datasets/{did}/files',
    scopes: [SCOPES.read, SCOPES.admin],
    tag: 'catalog',
    summary: 'The files of a dataset in the order they were attached, each with its replicas.',
    params: DidPathSchema,
    query: PageQuerySchema,
    response: DatasetFilePageSchema,
    status: 200,
  }),
  registerFiles: operation({
    method: 'POST',
    path: '/catalog/files',
    scopes: [SCOPES.create, SCOPES.admin],
    tag: 'catalog',
    summary:
      "Register files with a replica at an endpoint (a manifest, or the endpoint bucket's listing read for adler32), attached to a dataset; at most 1000.",
    body: RegisterFilesRequestSchema,
    response: RegisterFilesResponseSchema,
    status: 200,
  }),
  getFile: operation({
    method: 'GET',
    path: '/catalog/files/{did}',
    scopes: [SCOPES.read, SCOPES.admin],
    tag: 'catalog',
    summary: 'A file (scope:name, URL-encoded): size, adler32, events, metadata and its replicas.',
    params: DidPathSchema,
    response: FileViewSchema,
    status: 200,
  }),
  searchFiles: operation({
    method: 'GET',
    path: '/catalog/files',
    scopes: [SCOPES.read, SCOPES.admin],
    tag: 'catalog',
    summary:
      'Files of a scope whose metadata matches every meta.<key>=<value> given (digits compare as numbers).',
    query: SearchFilesQuerySchema,
    response: FilePageSchema,
    status: 200,
  }),
  // Replication rules (the transfer service copies their files; one function serves them: rules-api).
  addRule: operation({
    method: 'POST',
    path: '/catalog/rules',
    scopes: [SCOPES.create],
    tag: 'catalog',
    summary:
      'Ask for `copies` replicas of every file of a dataset (or of a file) on the given endpoints; the transfer service copies the missing ones and verifies them.',
    body: AddRuleRequestSchema,
    response: RuleSchema,
    status: 201,
  }),
  listRules: operation({
    method: 'GET',
    path: '/catalog/rules',
    scopes: [SCOPES.read],
    tag: 'catalog',
    summary:
      "The caller's rules (operators: everyone's), newest first, of one DID when given, with their progress.",
    query: RuleListQuerySchema,
    response: RuleListSchema,
    status: 200,
  }),
  getRule: operation({
    method: 'GET',
    path: '/catalog/rules/{ruleId}',
    scopes: [SCOPES.read],
    tag: 'catalog',
    summary: 'One rule and its progress (locks available, copying, failed).',
    params: RulePathSchema,
    response: RuleSchema,
    status: 200,
  }),
  removeRule: operation({
    method: 'DELETE',
    path: '/catalog/rules/{ruleId}',
    scopes: [SCOPES.create],
    tag: 'catalog',
    summary: 'Stop a rule: its pending transfers are dropped; the replicas it made stay.',
    params: RulePathSchema,
    response: RuleSchema,
    status: 200,
  }),
  submitMetaTask: operation({
    method: 'POST',
    path: '/meta-tasks',
    scopes: [SCOPES.create],
    tag: 'meta-tasks',
    summary:
      'Submit a meta-task: a chain, bag or DAG of tasks (and merge steps) whose edges pass a parent’s output dataset to its child.',
    body: SubmitMetaTaskRequestSchema,
    response: SubmitMetaTaskResponseSchema,
    status: 201,
  }),
  listMetaTasks: operation({
    method: 'GET',
    path: '/meta-tasks',
    scopes: [SCOPES.read],
    tag: 'meta-tasks',
    summary: "The caller's meta-tasks, newest first.",
    query: PageQuerySchema,
    response: MetaTaskPageSchema,
    status: 200,
  }),
  getMetaTask: operation({
    method: 'GET',
    path: '/meta-tasks/{metaTaskId}',
    scopes: [SCOPES.read, SCOPES.admin],
    tag: 'meta-tasks',
    summary: 'A meta-task: its nodes (in topological order, with state, task and job counts) and edges.',
    params: MetaTaskPathSchema,
    response: MetaTaskViewSchema,
    status: 200,
  }),
  cancelMetaTask: operation({
    method: 'POST',
    path: '/meta-tasks/{metaTaskId}/cancel',
    scopes: [SCOPES.cancel],
    tag: 'meta-tasks',
    summary: "Cancel a meta-task: its running nodes' tasks are cancelled, pending nodes never start.",
    params: MetaTaskPathSchema,
    response: MetaTaskViewSchema,
    status: 200,
  }),
  pauseMetaTask: operation({
    method: 'POST',
    path: '/meta-tasks/{metaTaskId}/pause',
    scopes: [SCOPES.modify],
    tag: 'meta-tasks',
    summary: "Pause a meta-task: its running nodes' tasks are paused and no new node starts.",
    params: MetaTaskPathSchema,
    response: MetaTaskViewSchema,
    status: 200,
  }),
  resumeMetaTask: operation({
    method: 'POST',
    path: '/meta-tasks/{metaTaskId}/resume',
    scopes: [SCOPES.modify],
    tag: 'meta-tasks',
    summary: "Resume a paused meta-task: its nodes' tasks resume and ready nodes start.",
    params: MetaTaskPathSchema,
    response: MetaTaskViewSchema,
    status: 200,
  }),
  retryMetaTask: operation({
    method: 'POST',
    path: '/meta-tasks/{metaTaskId}/retry',
    scopes: [SCOPES.modify],
    tag: 'meta-tasks',
    summary:
      'Retry an ended (failed or partial) meta-task from its failed nodes: they and the nodes skipped below them run again, each as a new task.',
    params: MetaTaskPathSchema,
    response: MetaTaskViewSchema,
    status: 200,
  }),
} as const;

export type Operations = typeof OPERATIONS;
export type OperationId = keyof Operations;

/** The answer type of an operation. */
export type ResponseOf<K extends OperationId> = z.infer<Operations[K]['response']>;
