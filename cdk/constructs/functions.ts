import { Aws, Duration, type RemovalPolicy } from 'aws-cdk-lib';
import type { Table } from 'aws-cdk-lib/aws-dynamodb';
import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { FilterCriteria, StartingPosition } from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { TABLES, type TableKey } from '#adapters/dynamodb/tables.ts';
import { type Capability, FUNCTION_CAPABILITY, QUEUE_FUNCTIONS, STREAM_FUNCTIONS } from '#lambdas/routes.ts';
import type { Config } from '#lambdas/runtime/config.ts';
import {
  type FunctionAccess,
  functionAccess,
  type TableAccess,
  type WorkflowAccess,
} from '../function-access.ts';
import { functionCatalog } from '../function-catalog.ts';
import { acknowledge, logicalIdOf } from '../nag.ts';
import type { Stage } from '../stages.ts';
import { GluonFunction } from './gluon-function.ts';
import type { JobDispatch } from './job-dispatch.ts';
import type { Notifications } from './notifications.ts';
import type { PilotCredentials } from './pilot-credentials.ts';
import type { Storage } from './storage.ts';
import type { Transfers } from './transfers.ts';

/** The environment contract of lambdas/runtime/config.ts: these are always set, the rest per stage. */
type RequiredEnvironment = Pick<
  Record<keyof Config, string>,
  | 'GLUON_TASKS_TABLE'
  | 'GLUON_JOBS_TABLE'
  | 'GLUON_RANGES_TABLE'
  | 'GLUON_ATTEMPTS_TABLE'
  | 'GLUON_PILOTS_TABLE'
  | 'GLUON_LEASES_TABLE'
  | 'GLUON_SITES_TABLE'
  | 'GLUON_POLICIES_TABLE'
  | 'GLUON_ACCOUNTING_TABLE'
  | 'GLUON_BUCKET'
  | 'GLUON_QUEUE_PREFIX'
  | 'GLUON_STATE_MACHINE_ARN'
  | 'GLUON_WEBHOOKS_TABLE'
  | 'GLUON_CATALOG_TABLE'
  | 'GLUON_META_TASK_STATE_MACHINE_ARN'
>;
export type FunctionEnvironment = RequiredEnvironment & Partial<Record<keyof Config, string>>;

export interface FunctionsProps {
  stage: Stage;
  projectRoot: string;
  removalPolicy: RemovalPolicy;
  logRetention: RetentionDays;
  tables: Readonly<Record<TableKey, Table>>;
  jobDispatch: JobDispatch;
  storage: Storage;
  /** The role whose credentials the vending functions hand to pilots. */
  pilotCredentials: PilotCredentials;
  /** The task state machine's ARN, known before the state machine exists (it is named from the stack). */
  stateMachineArn: string;
  /** The meta-task state machine's ARN, likewise named from the stack. */
  metaTaskStateMachineArn: string;
  /** The task event bus (functions with eventBus access publish to it). */
  notifications: Notifications;
  /** The transfer service's queue and copier grants. */
  transfers: Transfers;
}

const WORKFLOW_ACTIONS: Record<WorkflowAccess, string> = {
  start: 'states:StartExecution',
  'release-wait': 'states:SendTaskSuccess',
};

/**
 * Every handler directory as a function (from lambdas/routes.ts), each with the GLUON_* environment
 * of lambdas/runtime/config.ts and only the permissions its use case needs (cdk/function-access.ts).
 */
export class Functions extends Construct {
  readonly byName: ReadonlyMap<string, GluonFunction>;

  constructor(scope: Construct, id: string, props: FunctionsProps) {
    super(scope, id);
    const environment = functionEnvironment(props);
    const byName = new Map<string, GluonFunction>();
    // One log group per capability, not per function: each JSON line names its function
    // (Powertools' function_name), and a log group per function took 60 of CloudFormation's
    // 500 resources a stack may hold.
    const logGroups = new Map<Capability, LogGroup>();
    const logGroupOf = (name: string): LogGroup => {
      const capability = FUNCTION_CAPABILITY[name];
      if (capability === undefined)
        throw new Error(`function ${name} has no capability in FUNCTION_CAPABILITY`);
      let group = logGroups.get(capability);
      if (group === undefined) {
        group = new LogGroup(this, `Logs-${capability}`, {
          retention: props.logRetention,
          removalPolicy: props.removalPolicy,
        });
        logGroups.set(capability, group);
      }
      return group;
    };
    for (const spec of functionCatalog()) {
      const access = functionAccess(spec.name);
      const vends = access.pilotCredentials?.includes('vend') === true;
      const fn = new GluonFunction(this, spec.name, {
        spec,
        projectRoot: props.projectRoot,
        environment: {
          ...environment,
          // Only the functions that vend know the role (unset elsewhere: NoCredentialVendor).
          ...(vends ? { GLUON_PILOT_ROLE_ARN: props.pilotCredentials.role.roleArn } : {}),
          // …and the endpoint buckets the sessions they vend may read (catalog files' replicas).
          ...(vends && props.stage.catalog.dataBuckets.length > 0
            ? { GLUON_PILOT_DATA_LOCATIONS: props.stage.catalog.dataBuckets.map((b) => `${b}/`).join(',') }
            : {}),
          // Only the functions that publish know the bus.
          ...(access.eventBus?.includes('put')
            ? { GLUON_EVENT_BUS_NAME: props.notifications.bus.eventBusName }
            : {}),
          // Only the functions that send transfers know their queue.
          ...(access.transfers?.includes('send')
            ? { GLUON_TRANSFER_QUEUE_URL: props.transfers.queue.queueUrl }
            : {}),
        },
        logGroup: logGroupOf(spec.name),
      });
      this.grant(fn, access, props);
      byName.set(spec.name, fn);
    }
    this.byName = byName;
  }

  get(name: string): GluonFunction {
    const fn = this.byName.get(name);
    if (fn === undefined) throw new Error(`no function ${name}`);
    return fn;
  }

  all(): GluonFunction[] {
    return [...this.byName.values()];
  }

  private grant(fn: GluonFunction, access: FunctionAccess, props: FunctionsProps): void {
    for (const [key, tableAccess] of Object.entries(access.tables) as Array<[TableKey, TableAccess]>) {
      const table = props.tables[key];
      grantTable(table, tableAccess, fn.role);
      if (TABLES[key].indexes.length > 0) {
        acknowledge(
          fn,
          `AwsSolutions-IAM5[Resource::<${logicalIdOf(table)}.Arn>/index/*]`,
          `The ${key} table's grant covers its global secondary indexes (table ARN + /index/*); the stores query them by name.`,
        );
      }
    }
    if (access.siteQueues !== undefined && access.siteQueues.length > 0) {
      props.jobDispatch.grantSiteQueues(fn.role, access.siteQueues);
      acknowledge(
        fn,
        `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sqs:<AWS::Region>:<AWS::AccountId>:${props.jobDispatch.queuePrefix}site-*]`,
        "Site queues are created at run time per site (SqsJobQueue.ensureSiteQueue), so access is granted on this stack's site queue name pattern.",
      );
    }
    if (access.rangeQueues !== undefined && access.rangeQueues.length > 0) {
      props.jobDispatch.grantRangeQueues(fn.role, access.rangeQueues);
      acknowledge(
        fn,
        `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sqs:<AWS::Region>:<AWS::AccountId>:${props.jobDispatch.queuePrefix}ranges-*]`,
        "Range queues are created at run time per event-service task (SqsRangeQueue.ensureTaskQueue), so access is granted on this stack's range queue name pattern.",
      );
    }
    const workflowActions = (access.workflow ?? []).map((a) => WORKFLOW_ACTIONS[a]);
    if (workflowActions.length > 0) {
      fn.role.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'TaskWorkflow',
          actions: workflowActions,
          resources: [props.stateMachineArn],
        }),
      );
    }
    const metaTaskActions = (access.metaTaskWorkflow ?? []).map((a) => WORKFLOW_ACTIONS[a]);
    if (metaTaskActions.length > 0) {
      fn.role.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'MetaTaskWorkflow',
          actions: metaTaskActions,
          resources: [props.metaTaskStateMachineArn],
        }),
      );
    }
    if (access.bucket?.includes('put-sandbox')) {
      props.storage.grantPutSandbox(fn.role);
      acknowledge(
        fn,
        `AwsSolutions-IAM5[Resource::<${logicalIdOf(props.storage.bucket)}.Arn>/sandboxes/*]`,
        'Presigned sandbox uploads are signed with this role; it may put objects under sandboxes/ only.',
      );
    }
    if (access.bucket?.includes('get-results')) {
      props.storage.grantGetResults(fn.role);
      acknowledge(
        fn,
        `AwsSolutions-IAM5[Resource::<${logicalIdOf(props.storage.bucket)}.Arn>/tasks/*]`,
        'Presigned downloads of logs and outputs are signed with this role; it may read objects under tasks/ only.',
      );
    }
    if (access.bucket?.includes('put-accounting')) {
      props.storage.grantPutAccounting(fn.role);
      acknowledge(
        fn,
        `AwsSolutions-IAM5[Resource::<${logicalIdOf(props.storage.bucket)}.Arn>/accounting/*]`,
        'Accounting exports are one object per day and format under accounting/; the function may put objects there only.',
      );
    }
    if (access.endpointBuckets?.includes('list-read')) {
      const dataBuckets = props.stage.catalog.dataBuckets.map((b) => `arn:${Aws.PARTITION}:s3:::${b}`);
      fn.role.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'ListEndpointBuckets',
          actions: ['s3:ListBucket'],
          resources: [props.storage.bucket.bucketArn, ...dataBuckets],
        }),
      );
      fn.role.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'ReadEndpointBuckets',
          actions: ['s3:GetObject'],
          resources: [props.storage.bucket.arnForObjects('tasks/*'), ...dataBuckets.map((arn) => `${arn}/*`)],
        }),
      );
      acknowledge(
        fn,
        `AwsSolutions-IAM5[Resource::<${logicalIdOf(props.storage.bucket)}.Arn>/tasks/*]`,
        'Registration from a listing reads the objects of the results endpoint (tasks/) to checksum them.',
      );
      for (const b of props.stage.catalog.dataBuckets) {
        acknowledge(
          fn,
          `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::${b}/*]`,
          `Registration from a listing reads the objects of the data bucket ${b} (stage catalog.dataBuckets) to checksum them.`,
        );
      }
    }
    if (access.pilotCredentials?.includes('vend')) props.pilotCredentials.grantVend(fn.role);
    if (access.eventBus?.includes('put')) props.notifications.grantPut(fn.role);
    if (access.transfers?.includes('send')) props.transfers.grantSend(fn.role);
    if (access.transfers?.includes('copy')) {
      props.transfers.grantCopy(fn.role);
      props.transfers.acknowledgeCopier(fn, logicalIdOf(props.storage.bucket));
    }
    if (access.transfers?.includes('consume')) {
      const consumer = QUEUE_FUNCTIONS.find((q) => q.functionName === fn.name);
      if (consumer === undefined)
        throw new Error(`function ${fn.name} consumes transfers but is not in QUEUE_FUNCTIONS`);
      props.transfers.addConsumer(fn.function, consumer.batchSize);
    }
    for (const key of access.streams ?? []) {
      // The change feed: in order per shard, a failed batch delivered again (halved, to isolate a
      // poison record) for as long as the stream keeps it. The tumbling window is there for the
      // event to name its shard, which counting each change once relies on.
      fn.function.addEventSource(
        new DynamoEventSource(props.tables[key], {
          startingPosition: StartingPosition.TRIM_HORIZON,
          batchSize: 500,
          maxBatchingWindow: Duration.seconds(1),
          bisectBatchOnError: true,
          retryAttempts: -1,
          parallelizationFactor: 1,
          tumblingWindow: Duration.seconds(60),
          ...streamFilters(fn.name, key),
        }),
      );
      acknowledge(
        fn,
        'AwsSolutions-IAM5[Resource::*]',
        'The event source mapping needs dynamodb:ListStreams, which has no resource-level permissions; reading the stream itself is granted on its ARN only.',
      );
    }
  }
}

/** The feed's filter from lambdas/routes.ts STREAM_FUNCTIONS, when it has one (records it need not see are not delivered). */
function streamFilters(functionName: string, table: TableKey): { filters?: Array<Record<string, unknown>> } {
  const feed = STREAM_FUNCTIONS.find((f) => f.functionName === functionName && f.table === table);
  if (feed === undefined || !('filter' in feed)) return {};
  return { filters: [FilterCriteria.filter(structuredClone(feed.filter) as Record<string, unknown>)] };
}

function grantTable(table: Table, access: TableAccess, grantee: IGrantable): void {
  if (access === 'read') table.grantReadData(grantee);
  else if (access === 'write') table.grantWriteData(grantee);
  else table.grantReadWriteData(grantee);
}

function functionEnvironment(props: FunctionsProps): FunctionEnvironment {
  const environment: FunctionEnvironment = {
    GLUON_TASKS_TABLE: props.tables.tasks.tableName,
    GLUON_JOBS_TABLE: props.tables.jobs.tableName,
    GLUON_RANGES_TABLE: props.tables.ranges.tableName,
    GLUON_ATTEMPTS_TABLE: props.tables.attempts.tableName,
    GLUON_PILOTS_TABLE: props.tables.pilots.tableName,
    GLUON_LEASES_TABLE: props.tables.leases.tableName,
    GLUON_SITES_TABLE: props.tables.sites.tableName,
    GLUON_POLICIES_TABLE: props.tables.policies.tableName,
    GLUON_ACCOUNTING_TABLE: props.tables.accounting.tableName,
    GLUON_BUCKET: props.storage.bucket.bucketName,
    GLUON_QUEUE_PREFIX: props.jobDispatch.queuePrefix,
    GLUON_STATE_MACHINE_ARN: props.stateMachineArn,
    GLUON_WEBHOOKS_TABLE: props.tables.webhooks.tableName,
    GLUON_CATALOG_TABLE: props.tables.catalog.tableName,
    GLUON_META_TASK_STATE_MACHINE_ARN: props.metaTaskStateMachineArn,
  };
  for (const [name, value] of Object.entries(props.stage.functionSettings)) {
    if (value !== undefined) environment[name as keyof Config] = String(value);
  }
  return environment;
}
