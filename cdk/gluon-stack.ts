import { ArnFormat, CfnOutput, RemovalPolicy, Stack, type StackProps, Tags } from 'aws-cdk-lib';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import {
  EVENT_FUNCTIONS,
  META_TASK_WORKFLOW_FUNCTIONS,
  QUEUE_FUNCTIONS,
  ROUTES,
  SCHEDULED_FUNCTIONS,
  WORKFLOW_FUNCTIONS,
} from '#lambdas/routes.ts';
import { Accounting } from './constructs/accounting.ts';
import { Api } from './constructs/api.ts';
import { Bookkeeping } from './constructs/bookkeeping.ts';
import { Functions } from './constructs/functions.ts';
import { JobDispatch } from './constructs/job-dispatch.ts';
import { MetaTasks } from './constructs/meta-tasks.ts';
import { Notifications } from './constructs/notifications.ts';
import { Observability } from './constructs/observability.ts';
import { PilotCredentials } from './constructs/pilot-credentials.ts';
import { Provisioning } from './constructs/provisioning.ts';
import { Schedules } from './constructs/schedules.ts';
import { Storage } from './constructs/storage.ts';
import { TaskWorkflow } from './constructs/task-workflow.ts';
import { Transfers } from './constructs/transfers.ts';
import { Web } from './constructs/web.ts';
import { functionAccess } from './function-access.ts';
import type { Stage } from './stages.ts';

export interface GluonStackProps extends StackProps {
  stage: Stage;
  /** Absolute path of the repository root (lambdas/, statemachines/, package-lock.json). */
  projectRoot: string;
}

/** State machine names are at most 80 characters. */
const MAX_STATE_MACHINE_NAME = 80;

/**
 * All of Gluon in one environment-agnostic stack, one construct per capability. Nothing here has
 * a physical name except the task state machine (see below); the site queues are created by the
 * application under `<stackName>-site-<siteId>`.
 */
export class GluonStack extends Stack {
  readonly bookkeeping: Bookkeeping;
  readonly jobDispatch: JobDispatch;
  readonly storage: Storage;
  readonly functions: Functions;
  readonly taskWorkflow: TaskWorkflow;
  readonly api: Api;
  readonly schedules: Schedules;
  readonly pilotCredentials: PilotCredentials;
  readonly observability: Observability;
  readonly accounting: Accounting;
  readonly notifications: Notifications;
  readonly web: Web;
  readonly transfers: Transfers;
  readonly metaTasks: MetaTasks;
  readonly provisioning: Provisioning;

  constructor(scope: Construct, id: string, props: GluonStackProps) {
    super(scope, id, props);
    const { stage } = props;
    const removalPolicy = stage.removal === 'retain' ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    const logRetention = stage.logRetentionDays as RetentionDays;
    Tags.of(this).add('gluon:stage', stage.name);

    this.bookkeeping = new Bookkeeping(this, 'Bookkeeping', { removalPolicy });
    this.jobDispatch = new JobDispatch(this, 'JobDispatch', { queuePrefix: `${this.stackName}-` });
    this.storage = new Storage(this, 'Storage', {
      removalPolicy,
      accessLogExpirationDays: stage.accessLogExpirationDays,
    });

    // The workflow functions need the state machine's ARN (environment, SendTaskSuccess grant) and
    // the state machine's definition needs theirs: with a generated name that is a dependency
    // cycle. Naming the state machine after the stack makes its ARN known up front.
    const stateMachineName = `${this.stackName}-task`;
    if (stateMachineName.length > MAX_STATE_MACHINE_NAME) {
      throw new Error(`state machine name ${stateMachineName} is over ${MAX_STATE_MACHINE_NAME} characters`);
    }
    const stateMachineArn = this.formatArn({
      service: 'states',
      resource: 'stateMachine',
      resourceName: stateMachineName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });

    // The meta-task state machine likewise (its steps start node tasks and get its token back).
    const metaTaskStateMachineName = `${this.stackName}-meta-task`;
    if (metaTaskStateMachineName.length > MAX_STATE_MACHINE_NAME) {
      throw new Error(
        `state machine name ${metaTaskStateMachineName} is over ${MAX_STATE_MACHINE_NAME} characters`,
      );
    }
    const metaTaskStateMachineArn = this.formatArn({
      service: 'states',
      resource: 'stateMachine',
      resourceName: metaTaskStateMachineName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });

    // Before the functions: the vending functions get its ARN and it trusts their roles.
    this.pilotCredentials = new PilotCredentials(this, 'PilotCredentials', {
      accountId: stage.pilots.accountId,
      externalId: stage.pilots.externalId,
      jobDispatch: this.jobDispatch,
      storage: this.storage,
      leaseTable: this.bookkeeping.tables.leases,
      dataBuckets: stage.catalog.dataBuckets,
    });

    // Before the functions: the publishing function gets the bus's name and a grant on it.
    this.notifications = new Notifications(this, 'Notifications', { removalPolicy });

    // Before the functions: the senders get its URL, the consumer its event source mapping.
    this.transfers = new Transfers(this, 'Transfers', {
      removalPolicy,
      resultsBucket: this.storage.bucket,
      dataBuckets: stage.catalog.dataBuckets,
      visibilityTimeoutSec: Math.max(...QUEUE_FUNCTIONS.map((q) => q.visibilityTimeoutSec)),
    });

    this.functions = new Functions(this, 'Functions', {
      stage,
      projectRoot: props.projectRoot,
      removalPolicy,
      logRetention,
      tables: this.bookkeeping.tables,
      jobDispatch: this.jobDispatch,
      storage: this.storage,
      pilotCredentials: this.pilotCredentials,
      stateMachineArn,
      metaTaskStateMachineArn,
      notifications: this.notifications,
      transfers: this.transfers,
    });
    const functionsByName = new Map(this.functions.all().map((fn) => [fn.name, fn.function]));
    this.notifications.addTargets(EVENT_FUNCTIONS, functionsByName);

    this.taskWorkflow = new TaskWorkflow(this, 'TaskWorkflow', {
      stateMachineName,
      definitionFile: `${props.projectRoot}/statemachines/task.asl.json`,
      functions: new Map(WORKFLOW_FUNCTIONS.map((name) => [name, this.functions.get(name).function])),
      logRetention,
      removalPolicy,
    });

    this.metaTasks = new MetaTasks(this, 'MetaTasks', {
      stateMachineName: metaTaskStateMachineName,
      definitionFile: `${props.projectRoot}/statemachines/meta-task.asl.json`,
      functions: new Map(
        META_TASK_WORKFLOW_FUNCTIONS.map((name) => [name, this.functions.get(name).function]),
      ),
      logRetention,
      removalPolicy,
    });

    this.api = new Api(this, 'Api', {
      routes: ROUTES,
      functions: functionsByName,
      issuer: stage.auth.issuer,
      audience: stage.auth.audience,
      throttle: stage.throttle,
      logRetention,
      removalPolicy,
    });

    // After the API: the instances' boot script names its URL.
    this.provisioning = new Provisioning(this, 'Provisioning', {
      stage,
      projectRoot: props.projectRoot,
      pilotCredentials: this.pilotCredentials,
      apiUrl: this.api.stage.url,
      logRetention,
      removalPolicy,
    });
    for (const fn of this.functions.all()) {
      if (functionAccess(fn.name).cloud?.includes('provision')) this.provisioning.grantProvision(fn);
    }

    this.schedules = new Schedules(this, 'Schedules', {
      schedules: SCHEDULED_FUNCTIONS,
      functions: functionsByName,
    });

    this.observability = new Observability(this, 'Observability', {
      stage,
      removalPolicy,
      jobDispatch: this.jobDispatch,
      functions: this.functions.all(),
      stateMachine: this.taskWorkflow.stateMachine,
      httpApi: this.api.httpApi,
      transfers: this.transfers,
    });

    this.accounting = new Accounting(this, 'Accounting', { bucket: this.storage.bucket });
    this.web = new Web(this, 'Web', {
      projectRoot: props.projectRoot,
      httpApi: this.api.httpApi,
      dataBucket: this.storage.bucket,
      accessLogsBucket: this.storage.accessLogsBucket,
      removalPolicy,
    });
    new CfnOutput(this, 'WebUrl', { value: this.web.url, description: 'The web monitor' });

    new CfnOutput(this, 'BucketName', { value: this.storage.bucket.bucketName, description: 'GLUON_BUCKET' });
    new CfnOutput(this, 'QueuePrefix', {
      value: this.jobDispatch.queuePrefix,
      description: 'GLUON_QUEUE_PREFIX',
    });
    new CfnOutput(this, 'StateMachineArn', { value: this.taskWorkflow.stateMachine.stateMachineArn });
  }
}
