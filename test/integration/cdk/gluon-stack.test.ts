import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CreateQueueCommand, GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { AssumeRoleCommand, type STSClient } from '@aws-sdk/client-sts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TABLES, type TableKey } from '#adapters/dynamodb/tables.ts';
import { SqsJobQueue } from '#adapters/sqs/sqs-job-queue.ts';
import { StsCredentialVendor, sessionPolicy } from '#adapters/sts/sts-credential-vendor.ts';
import { RESOURCE_CLASSES } from '#core/jobs/resource-class.ts';
import {
  EVENT_FUNCTIONS,
  FUNCTION_CAPABILITY,
  META_TASK_WORKFLOW_FUNCTIONS,
  QUEUE_FUNCTIONS,
  ROUTES,
  SCHEDULED_FUNCTIONS,
  STREAM_FUNCTIONS,
  WORKFLOW_FUNCTIONS,
} from '#lambdas/routes.ts';
import { ConfigSchema } from '#lambdas/runtime/config.ts';
import { placeholdersOf, substitutionName } from '../../../cdk/constructs/task-workflow.ts';
import { FUNCTION_ACCESS, type TableAccess } from '../../../cdk/function-access.ts';
import { functionCatalog, pascalCase } from '../../../cdk/function-catalog.ts';
import { PROJECT_ROOT } from '../../../cdk/gluon-app.ts';
import { stageConfig } from '../../../cdk/stages.ts';
import {
  asArray,
  type CfnResource,
  cdkPath,
  identityStatements,
  ofType,
  propsOf,
  render,
  roleStatements,
  type Statement,
  type Synthesized,
  synthGluon,
} from './synth.ts';

interface Access {
  tables: Partial<Record<TableKey, TableAccess>>;
  /** Tables whose stream the function reads (its event source mapping). */
  streams: TableKey[];
  sqs: string[];
  states: string[];
  s3: string[];
  sts: string[];
  /** EventBridge actions on the task event bus (checked to be that bus only). */
  events?: string[];
  /** EC2, IAM and Batch actions of the provisioner (their resources and conditions: provisioning.test.ts). */
  cloud?: string[];
}

const stage = stageConfig('dev');
const STACK = 'gluon-dev';
const DATA_SERVICES = ['dynamodb', 's3', 'sqs', 'states'];
const READ_ACTIONS = ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:Scan', 'dynamodb:BatchGetItem'];
const WRITE_ACTIONS = [
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:BatchWriteItem',
];

/** Functions that hand pilots credentials (written down from the use cases, not from FUNCTION_ACCESS). */
const VENDING_FUNCTIONS = ['register-pilot', 'renew-pilot-credentials'];

let synth: Synthesized;
let resources: Record<string, CfnResource>;

beforeAll(() => {
  synth = synthGluon({ stage: 'dev', bundle: true, validate: true });
  resources = synth.resources;
}, 900_000);

afterAll(() => synth?.cleanup());

/** Lambda functions by handler directory, from their construct path `gluon-dev/Functions/<name>/Function/Resource`. */
function functionsByName(): Map<string, { logicalId: string; resource: CfnResource }> {
  const out = new Map<string, { logicalId: string; resource: CfnResource }>();
  for (const [logicalId, resource] of ofType(resources, 'AWS::Lambda::Function')) {
    // CDK's own handler that copies the web monitor into its bucket (test/integration/cdk/web.test.ts).
    if (cdkPath(resource).includes('/Custom::CDKBucketDeployment')) continue;
    const match = /^gluon-dev\/Functions\/([^/]+)\/Function\/Resource$/.exec(cdkPath(resource));
    if (match === null) throw new Error(`unexpected Lambda function ${cdkPath(resource)}`);
    out.set(match[1] as string, { logicalId, resource });
  }
  return out;
}

function logicalIdOfName(name: string): string {
  const found = functionsByName().get(name);
  if (found === undefined) throw new Error(`no function ${name}`);
  return found.logicalId;
}

function actionsOf(statement: Statement): string[] {
  return asArray(statement.Action);
}

function resourcesOf(statement: Statement): string[] {
  return asArray(statement.Resource as unknown).map(render);
}

/** The logical id of the task event bus. */
function taskEventBusId(): string {
  const buses = ofType(resources, 'AWS::Events::EventBus');
  expect(buses).toHaveLength(1);
  return (buses[0] as [string, CfnResource])[0];
}

/** The logical id of the role pilots get credentials of. */
function pilotRoleId(): string {
  const roles = ofType(resources, 'AWS::IAM::Role').filter(
    ([, r]) => cdkPath(r) === `${STACK}/PilotCredentials/Role/Resource`,
  );
  expect(roles).toHaveLength(1);
  return (roles[0] as [string, CfnResource])[0];
}

function stateMachine(path = `${STACK}/TaskWorkflow/StateMachine/Resource`): {
  logicalId: string;
  resource: CfnResource;
} {
  const machines = ofType(resources, 'AWS::StepFunctions::StateMachine').filter(
    ([, r]) => cdkPath(r) === path,
  );
  expect(machines).toHaveLength(1);
  const [logicalId, resource] = machines[0] as [string, CfnResource];
  return { logicalId, resource };
}

describe('functions', () => {
  const handlerDirectories = readdirSync(join(PROJECT_ROOT, 'lambdas'), { withFileTypes: true })
    .filter((capability) => capability.isDirectory())
    .flatMap((capability) =>
      readdirSync(join(PROJECT_ROOT, 'lambdas', capability.name), { withFileTypes: true })
        .filter(
          (entry) =>
            entry.isDirectory() &&
            existsSync(join(PROJECT_ROOT, 'lambdas', capability.name, entry.name, 'index.ts')),
        )
        .map((entry) => entry.name),
    )
    .sort();

  it('deploys one function per handler directory and no other function', () => {
    expect(handlerDirectories.length).toBeGreaterThan(10);
    expect([...functionsByName().keys()].sort()).toEqual(handlerDirectories);
  });

  it('derives the function list from ROUTES, WORKFLOW_FUNCTIONS, SCHEDULED_FUNCTIONS and STREAM_FUNCTIONS', () => {
    const named = new Set([
      ...ROUTES.map((r) => r.functionName),
      ...WORKFLOW_FUNCTIONS,
      ...META_TASK_WORKFLOW_FUNCTIONS,
      ...SCHEDULED_FUNCTIONS.map((s) => s.functionName),
      ...STREAM_FUNCTIONS.map((s) => s.functionName),
      ...EVENT_FUNCTIONS.map((e) => e.functionName),
      ...QUEUE_FUNCTIONS.map((q) => q.functionName),
    ]);
    expect([...named].sort()).toEqual(handlerDirectories);
    expect(
      functionCatalog()
        .map((f) => f.name)
        .sort(),
    ).toEqual(handlerDirectories);
  });

  it('runs every function on Node.js 22, arm64, from the bundled index.handler', () => {
    for (const [name, { resource }] of functionsByName()) {
      expect(resource.Properties?.Runtime, name).toBe('nodejs22.x');
      expect(resource.Properties?.Architectures, name).toEqual(['arm64']);
      expect(resource.Properties?.Handler, name).toBe('index.handler');
    }
  });

  it('sets exactly the GLUON_* variables of lambdas/runtime/config.ts, and source maps', () => {
    const contract = Object.keys(ConfigSchema.shape).sort();
    const required = contract.filter(
      (key) => !ConfigSchema.shape[key as keyof typeof ConfigSchema.shape].safeParse(undefined).success,
    );
    expect(required.length).toBeGreaterThan(5);
    for (const [name, { resource }] of functionsByName()) {
      const variables = (propsOf(resource).Environment as { Variables: Record<string, unknown> }).Variables;
      const gluon = Object.keys(variables).filter(
        (k) => k !== 'NODE_OPTIONS' && !k.startsWith('POWERTOOLS_') && k !== 'LOG_LEVEL',
      );
      expect(
        gluon.every((k) => contract.includes(k)),
        `${name}: ${gluon.join(', ')}`,
      ).toBe(true);
      for (const key of required) expect(variables[key], `${name} ${key}`).toBeDefined();
      expect(variables.NODE_OPTIONS, name).toBe('--enable-source-maps');
      expect(render(variables.GLUON_TASKS_TABLE)).toBe('<TasksTable>');
      expect(render(variables.GLUON_BUCKET)).toBe('<DataBucket>');
      expect(variables.GLUON_QUEUE_PREFIX).toBe(`${STACK}-`);
    }
  });

  it('points GLUON_STATE_MACHINE_ARN at the task state machine', () => {
    const name = stateMachine().resource.Properties?.StateMachineName;
    expect(name).toBe(`${STACK}-task`);
    for (const [fn, { resource }] of functionsByName()) {
      const variables = (propsOf(resource).Environment as { Variables: Record<string, unknown> }).Variables;
      expect(render(variables.GLUON_STATE_MACHINE_ARN), fn).toBe(
        `arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:stateMachine:${name}`,
      );
    }
  });

  it('tells the vending functions, and only them, the pilot role in GLUON_PILOT_ROLE_ARN', () => {
    for (const [name, { resource }] of functionsByName()) {
      const variables = (propsOf(resource).Environment as { Variables: Record<string, unknown> }).Variables;
      if (VENDING_FUNCTIONS.includes(name)) {
        expect(render(variables.GLUON_PILOT_ROLE_ARN), name).toBe(`<${pilotRoleId()}.Arn>`);
      } else {
        expect(variables.GLUON_PILOT_ROLE_ARN, name).toBeUndefined();
      }
    }
  });

  it("stays within CloudFormation's 500 resources per stack", () => {
    expect(Object.keys(resources).length).toBeLessThanOrEqual(500);
  });

  it("gives every function its capability's log group, one per capability, with the stage retention", () => {
    const groupOfCapability = new Map<string, string>();
    const capabilityOfGroup = new Map<string, string>();
    for (const [name, { resource }] of functionsByName()) {
      const logGroupId = render((propsOf(resource).LoggingConfig as { LogGroup: unknown }).LogGroup).slice(
        1,
        -1,
      );
      const capability = FUNCTION_CAPABILITY[name] as string;
      expect(capability, name).toBeDefined();
      expect(groupOfCapability.get(capability) ?? logGroupId, name).toBe(logGroupId);
      expect(capabilityOfGroup.get(logGroupId) ?? capability, name).toBe(capability);
      groupOfCapability.set(capability, logGroupId);
      capabilityOfGroup.set(logGroupId, capability);
      expect(resources[logGroupId]?.Type, name).toBe('AWS::Logs::LogGroup');
      expect(resources[logGroupId]?.Properties?.RetentionInDays, name).toBe(stage.logRetentionDays);
    }
    expect(groupOfCapability.size).toBe(new Set(Object.values(FUNCTION_CAPABILITY)).size);
  });

  it('bundles every handler into ESM with a source map that loads and exports handler', async () => {
    const bundles: Record<string, string> = {};
    for (const [name, { resource }] of functionsByName()) {
      // The code asset `<hash>.zip` is staged in the cloud assembly as the directory `asset.<hash>`.
      const key = (propsOf(resource).Code as { S3Key: string }).S3Key;
      const bundle = join(synth.outdir, `asset.${key.replace(/\.zip$/, '')}`, 'index.mjs');
      expect(existsSync(`${bundle}.map`), name).toBe(true);
      // Subpath imports (#core/…, #lambdas/…) are resolved at bundle time, not left for the runtime.
      expect(readFileSync(bundle, 'utf8'), name).not.toMatch(/from\s*["']#/);
      bundles[name] = bundle;
    }
    // Loaded by plain Node, as the Lambda runtime loads them (and much faster than through the
    // test runner's module transforms).
    const loader = `const out = {};
      for (const [name, file] of Object.entries(JSON.parse(process.argv[1]))) {
        out[name] = typeof (await import(file)).handler;
      }
      console.log(JSON.stringify(out));`;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--input-type=module', '-e', loader, JSON.stringify(bundles)],
      {
        env: {
          PATH: process.env.PATH ?? '',
          GLUON_TASKS_TABLE: 't',
          GLUON_JOBS_TABLE: 'j',
          GLUON_RANGES_TABLE: 'r',
          GLUON_ATTEMPTS_TABLE: 'a',
          GLUON_PILOTS_TABLE: 'p',
          GLUON_LEASES_TABLE: 'l',
          GLUON_SITES_TABLE: 's',
          GLUON_POLICIES_TABLE: 'po',
          GLUON_ACCOUNTING_TABLE: 'ac',
          GLUON_WEBHOOKS_TABLE: 'wh',
          GLUON_CATALOG_TABLE: 'ca',
          GLUON_BUCKET: 'b',
          GLUON_QUEUE_PREFIX: 'q-',
          GLUON_STATE_MACHINE_ARN: 'arn:aws:states:us-east-1:000000000000:stateMachine:x',
          GLUON_META_TASK_STATE_MACHINE_ARN: 'arn:aws:states:us-east-1:000000000000:stateMachine:m',
          AWS_REGION: 'us-east-1',
        },
      },
    );
    const loaded = JSON.parse(stdout) as Record<string, string>;
    expect(Object.keys(loaded).sort()).toEqual(Object.keys(bundles).sort());
    for (const [name, type] of Object.entries(loaded)) expect(type, name).toBe('function');
  });
});

describe('bookkeeping', () => {
  it('builds every table of TABLES with its keys and indexes, on demand, with PITR', () => {
    const tables = ofType(resources, 'AWS::DynamoDB::Table');
    expect(tables.map(([id]) => id).sort()).toEqual(
      (Object.keys(TABLES) as TableKey[]).map((k) => `${pascalCase(k)}Table`).sort(),
    );
    for (const key of Object.keys(TABLES) as TableKey[]) {
      const definition = TABLES[key];
      const table = resources[`${pascalCase(key)}Table`] as CfnResource;
      const props = table.Properties as Record<string, unknown>;
      expect(props.BillingMode, key).toBe('PAY_PER_REQUEST');
      expect(props.PointInTimeRecoverySpecification, key).toEqual({ PointInTimeRecoveryEnabled: true });
      expect(props.KeySchema, key).toEqual([
        { AttributeName: definition.partitionKey.name, KeyType: 'HASH' },
        ...(definition.sortKey ? [{ AttributeName: definition.sortKey.name, KeyType: 'RANGE' }] : []),
      ]);
      const indexes = asArray(props.GlobalSecondaryIndexes as Array<Record<string, unknown>> | undefined);
      expect(indexes.map((i) => i.IndexName).sort(), key).toEqual(
        definition.indexes.map((i) => i.name).sort(),
      );
      for (const index of definition.indexes) {
        const built = indexes.find((i) => i.IndexName === index.name) as Record<string, unknown>;
        expect(built.Projection, index.name).toEqual({ ProjectionType: index.projection });
        expect(built.KeySchema, index.name).toEqual([
          { AttributeName: index.partitionKey.name, KeyType: 'HASH' },
          ...(index.sortKey ? [{ AttributeName: index.sortKey.name, KeyType: 'RANGE' }] : []),
        ]);
      }
      if (definition.ttlAttribute === undefined) expect(props.TimeToLiveSpecification, key).toBeUndefined();
      else
        expect(props.TimeToLiveSpecification).toEqual({
          AttributeName: definition.ttlAttribute,
          Enabled: true,
        });
      expect(props.TableName, key).toBeUndefined();
    }
  });

  it('deletes the tables with a dev stack (the prod stage retains them: stages.test.ts)', () => {
    for (const [id, table] of ofType(resources, 'AWS::DynamoDB::Table')) {
      expect(table.DeletionPolicy, id).toBe('Delete');
      expect(table.Properties?.DeletionProtectionEnabled, id).toBe(false);
    }
  });
});

describe('job dispatch', () => {
  it('gives every SQS queue defined in the template a DLQ with maxReceiveCount (site queues are created at run time)', () => {
    const queues = ofType(resources, 'AWS::SQS::Queue');
    const dlqIds = new Set(
      queues.flatMap(([, q]) => {
        const redrive = q.Properties?.RedrivePolicy as { deadLetterTargetArn?: unknown } | undefined;
        return redrive?.deadLetterTargetArn === undefined ? [] : [render(redrive.deadLetterTargetArn)];
      }),
    );
    // Dead-letter queues of EventBridge rule targets are DLQs too.
    for (const [, rule] of ofType(resources, 'AWS::Events::Rule')) {
      for (const target of (rule.Properties?.Targets ?? []) as Array<{
        DeadLetterConfig?: { Arn?: unknown };
      }>)
        if (target.DeadLetterConfig?.Arn !== undefined) dlqIds.add(render(target.DeadLetterConfig.Arn));
    }
    for (const [id, queue] of queues) {
      if ([...dlqIds].some((arn) => arn.startsWith(`<${id}.`))) continue;
      const redrive = queue.Properties?.RedrivePolicy as { maxReceiveCount?: number } | undefined;
      expect(redrive?.maxReceiveCount, id).toBeGreaterThan(0);
    }
    // A site queue and its DLQ come from SqsJobQueue.ensureSiteQueue (tested below); the queues in
    // the template are the task event rules' dead-letter queue and the transfer service's queue and DLQ.
    expect(queues.map(([, q]) => cdkPath(q)).sort()).toEqual(
      [
        `${STACK}/Notifications/TargetDeadLetters/Resource`,
        `${STACK}/Transfers/TransfersQueue/Resource`,
        `${STACK}/Transfers/TransfersDlq/Resource`,
      ].sort(),
    );
  });

  it('site queues created by the application redrive to their DLQ after maxReceiveCount receives', async () => {
    const created: Array<{ name: string; attributes: Record<string, string> }> = [];
    const client = {
      send: async (command: { input: Record<string, unknown> }) => {
        if (command instanceof CreateQueueCommand) {
          const name = command.input.QueueName as string;
          created.push({ name, attributes: (command.input.Attributes ?? {}) as Record<string, string> });
          return { QueueUrl: `https://sqs.test/queue/${name}` };
        }
        if (command instanceof GetQueueAttributesCommand) {
          const name = (command.input.QueueUrl as string).split('/').pop();
          return { Attributes: { QueueArn: `arn:aws:sqs:test:queue:${name}` } };
        }
        throw new Error(`unexpected SQS call ${command.constructor.name}`);
      },
    } as unknown as SQSClient;
    const prefix = synth.stack.jobDispatch.queuePrefix;
    await new SqsJobQueue(client, prefix).ensureSiteQueue('cern');

    expect(synth.stack.jobDispatch.siteQueueNames('cern')).toEqual({
      queue: `${STACK}-site-cern`,
      dlq: `${STACK}-site-cern-dlq`,
    });
    // A queue and its DLQ per resource class, each under the stack's site-* pattern.
    const all = RESOURCE_CLASSES.map((c) => synth.stack.jobDispatch.siteQueueNames('cern', c));
    expect(all.map((n) => n.queue)).toEqual([
      `${STACK}-site-cern`,
      `${STACK}-site-cern_mcore`,
      `${STACK}-site-cern_himem`,
      `${STACK}-site-cern_gpu`,
    ]);
    expect(created.map((q) => q.name).sort()).toEqual(all.flatMap((n) => [n.queue, n.dlq]).sort());
    for (const names of all) {
      const queue = created.find((q) => q.name === names.queue);
      const redrive = JSON.parse(queue?.attributes.RedrivePolicy ?? '{}') as Record<string, unknown>;
      expect(redrive.deadLetterTargetArn).toBe(`arn:aws:sqs:test:queue:${names.dlq}`);
      expect(Number(redrive.maxReceiveCount)).toBeGreaterThan(0);
      expect(created.find((q) => q.name === names.dlq)?.attributes.RedrivePolicy).toBeUndefined();
    }
  });

  it('alarms on the DLQ depth and the oldest job message of every class queue of every configured site', () => {
    const alarms = ofType(resources, 'AWS::CloudWatch::Alarm').map(
      ([, a]) => a.Properties as Record<string, unknown>,
    );
    expect(stage.sites.length).toBeGreaterThan(0);
    for (const queue of stage.sites.flatMap((siteId) =>
      ['', '_mcore', '_himem', '_gpu'].map((suffix) => `${STACK}-site-${siteId}${suffix}`),
    )) {
      const siteId = queue;
      const onQueue = (metricName: string, queueName: string) =>
        alarms.filter(
          (a) =>
            a.Namespace === 'AWS/SQS' &&
            a.MetricName === metricName &&
            JSON.stringify(a.Dimensions) === JSON.stringify([{ Name: 'QueueName', Value: queueName }]),
        );
      const dlq = onQueue('ApproximateNumberOfMessagesVisible', `${queue}-dlq`);
      expect(dlq, siteId).toHaveLength(1);
      expect(dlq[0]?.Threshold).toBe(1);
      expect(dlq[0]?.ComparisonOperator).toBe('GreaterThanOrEqualToThreshold');
      const age = onQueue('ApproximateAgeOfOldestMessage', queue);
      expect(age, siteId).toHaveLength(1);
      expect(age[0]?.Threshold).toBe(stage.alarms.oldestJobMessageAgeSec);
    }
  });
});

describe('least privilege', () => {
  /** Actions that have no resource-level permissions at all (IAM only accepts `*` for them). */
  const RESOURCELESS = new Set(['dynamodb:ListStreams']);

  it('never grants * actions, nor data-service actions on * resources (but those IAM allows only on *)', () => {
    const statements = identityStatements(resources);
    expect(statements.length).toBeGreaterThan(40);
    for (const { path, statement } of statements) {
      // CDK's own BucketDeployment handler (the web monitor's pages) grants with CDK's wildcards; cdk-nag
      // acknowledgements in cdk/constructs/web.ts name each one.
      if (path.includes('/Custom::CDKBucketDeployment')) continue;
      expect(statement.NotAction, path).toBeUndefined();
      expect(statement.NotResource, path).toBeUndefined();
      if (statement.Effect !== 'Allow') continue;
      const actions = actionsOf(statement);
      for (const action of actions) {
        expect(action, path).not.toBe('*');
        const [service, operation] = action.split(':') as [string, string];
        if (DATA_SERVICES.includes(service) && !RESOURCELESS.has(action)) {
          expect(operation, `${path} ${action}`).not.toContain('*');
          for (const resource of resourcesOf(statement)) expect(resource, `${path} ${action}`).not.toBe('*');
        }
      }
    }
  });

  /**
   * What each function may do, written down from its use case (core/<capability>/) independently of
   * cdk/function-access.ts, so that a change there that widens a grant fails here.
   */
  const rw = 'read-write';
  const NOTHING: Access = { tables: {}, streams: [], sqs: [], states: [], s3: [], sts: [] };
  const EXPECTED: Record<string, Access> = {
    // Its output dataset: checked (scope, state) and made in the catalog.
    'submit-task': { ...NOTHING, tables: { tasks: rw, catalog: rw }, states: ['StartExecution'] },
    'list-tasks': { ...NOTHING, tables: { tasks: 'read' } },
    'get-task': { ...NOTHING, tables: { tasks: 'read' } },
    'list-jobs': { ...NOTHING, tables: { tasks: 'read', jobs: 'read' } },
    'get-job': { ...NOTHING, tables: { tasks: 'read', jobs: 'read', attempts: 'read' } },
    // The flag, and the wait released: the cancel step of the workflow does the rest.
    // The task leaves dispatch.
    'cancel-task': { ...NOTHING, tables: { tasks: rw, policies: 'write' }, states: ['SendTaskSuccess'] },
    'create-sandbox': { ...NOTHING, s3: ['PutObject sandboxes/*'] },
    'list-pilots': { ...NOTHING, tables: { pilots: 'read', leases: 'read' } },
    // A registration sent again with its key reads the pilot it registered and its lease; an
    // unhealthy pilot is counted in its site's outcomes.
    'register-pilot': {
      ...NOTHING,
      tables: { pilots: rw, leases: rw, sites: rw },
      sqs: ['GetQueueUrl'],
      sts: ['AssumeRole', 'TagSession'],
    },
    // Fresh credentials for a live pilot: read its lease, resolve its site queue's URL, vend.
    'renew-pilot-credentials': {
      ...NOTHING,
      tables: { leases: 'read' },
      sqs: ['GetQueueUrl'],
      sts: ['AssumeRole', 'TagSession'],
    },
    // The site's cap and census (on its record), and its queue's depth: no scan of pilots.
    'site-demand': { ...NOTHING, tables: { sites: 'read' }, sqs: ['GetQueueAttributes', 'GetQueueUrl'] },
    // "Why is my task pending": the task, the sites with their census, and queue depths; reads only.
    'explain-task': {
      ...NOTHING,
      // accounting: a budgeted task's cost so far.
      tables: { tasks: 'read', sites: 'read', accounting: 'read' },
      sqs: ['GetQueueAttributes', 'GetQueueUrl'],
    },
    // "Why is this job where it is": the job and its attempts, brokerage's record, its site; reads only.
    'explain-job': {
      ...NOTHING,
      tables: {
        tasks: 'read',
        jobs: 'read',
        attempts: 'read',
        sites: 'read',
        policies: 'read',
        accounting: 'read',
      },
      sqs: ['GetQueueAttributes', 'GetQueueUrl'],
    },
    // The information system: operators define sites (the site's queue and DLQ are created first).
    'list-sites': { ...NOTHING, tables: { sites: 'read' } },
    'put-site': {
      ...NOTHING,
      tables: { sites: rw },
      sqs: ['CreateQueue', 'GetQueueAttributes', 'GetQueueUrl'],
    },
    // Claims and reports write the job record and the pilot's lease; no job message, no workflow.
    // A consumer's claim carries its range report: range messages to send again, or to the DLQ.
    'claim-job': {
      ...NOTHING,
      tables: { tasks: 'read', jobs: rw, leases: rw, sites: 'read', ranges: 'read', policies: 'read' },
      sqs: ['GetQueueUrl ranges-*'],
    },
    'complete-job': {
      ...NOTHING,
      tables: { tasks: 'read', jobs: rw, leases: rw, sites: 'read', policies: 'read' },
    },
    // The change feed: messages of requeued attempts, the attempt archive, counters, kills of
    // claims that landed after a cancel's sweep, the release; each ended attempt counted for its site.
    // Accounting: each ended attempt's usage record and roll-ups (written only), the owner's group (read).
    'record-job-changes': {
      ...NOTHING,
      tables: {
        tasks: rw,
        attempts: 'write',
        leases: 'write',
        sites: rw,
        accounting: 'write',
        // The pilot of an attempt at a paid site, for its price.
        pilots: 'read',
        policies: 'read',
        // Finished jobs' outputs registered in their task's output dataset.
        catalog: rw,
      },
      streams: ['jobs'],
      sqs: ['GetQueueUrl', 'SendMessage'],
      states: ['SendTaskSuccess'],
    },
    'split-task': {
      ...NOTHING,
      tables: { tasks: rw, sites: 'read' },
      sqs: ['GetQueueAttributes', 'GetQueueUrl'],
    },
    // The task joins dispatch, and a first round tops the site queues up (their depth first).
    'enqueue-jobs': {
      ...NOTHING,
      tables: { tasks: rw, policies: rw, sites: 'read', accounting: 'read' },
      sqs: ['GetQueueAttributes', 'GetQueueUrl', 'SendMessage'],
    },
    'wait-for-jobs': { ...NOTHING, tables: { tasks: rw }, states: ['SendTaskSuccess'] },
    'cancel-jobs': { ...NOTHING, tables: { tasks: rw, jobs: 'read', leases: rw } },
    'finalize-task': { ...NOTHING, tables: { tasks: rw, jobs: 'read', policies: 'write' } },
    'fail-task': { ...NOTHING, tables: { tasks: rw, policies: 'write' } },
    // A scouted task sized from its scouts' records and the sites' slots, then a dispatch round.
    'size-task': {
      ...NOTHING,
      tables: { tasks: rw, jobs: 'read', policies: rw, sites: 'read', accounting: 'read' },
      sqs: ['GetQueueAttributes', 'GetQueueUrl', 'SendMessage'],
    },
    // A dataset task's files and replicas from the catalog; jobs added for new files, then a dispatch
    // round; `inputs.rule`: the task's rule made (catalog items) and its transfers sent.
    'resolve-inputs': {
      ...NOTHING,
      tables: { tasks: rw, catalog: rw, policies: rw, sites: 'read', accounting: 'read' },
      sqs: [
        'GetQueueAttributes',
        'GetQueueAttributes transfers',
        'GetQueueUrl',
        'GetQueueUrl transfers',
        'SendMessage',
        'SendMessage transfers',
      ],
    },
    'reap-pilots': {
      ...NOTHING,
      tables: { tasks: 'read', jobs: rw, leases: rw, pilots: rw, sites: rw, policies: 'read' },
      sqs: ['ChangeMessageVisibility', 'DeleteMessage', 'GetQueueUrl', 'ReceiveMessage', 'SendMessage'],
    },
    // Event service. The workflow makes a task's range queue and sends its range messages, adds
    // the merge jobs, and deletes both queues at the end.
    'enqueue-ranges': {
      ...NOTHING,
      tables: { tasks: rw },
      sqs: [
        'CreateQueue ranges-*',
        'GetQueueAttributes ranges-*',
        'GetQueueUrl ranges-*',
        'SendMessage ranges-*',
      ],
    },
    'merge-ranges': { ...NOTHING, tables: { tasks: rw }, sqs: ['GetQueueUrl', 'SendMessage'] },
    'close-range-queue': {
      ...NOTHING,
      tables: { tasks: 'read' },
      sqs: ['DeleteQueue ranges-*', 'GetQueueUrl ranges-*'],
    },
    // Ranges to run again go back to the queue, fatal ones to the DLQ; counters from the feed.
    'record-range-changes': {
      ...NOTHING,
      tables: { tasks: rw },
      streams: ['ranges'],
      sqs: ['GetQueueUrl ranges-*', 'SendMessage ranges-*'],
    },
    'pause-task': { ...NOTHING, tables: { tasks: rw, policies: 'write' } },
    'kill-job': { ...NOTHING, tables: { tasks: 'read', jobs: rw, leases: 'write' } },
    'resume-jobs': { ...NOTHING, tables: { tasks: rw, jobs: 'read' }, sqs: ['GetQueueUrl', 'SendMessage'] },
    'resume-task': { ...NOTHING, tables: { tasks: rw, policies: 'write' }, states: ['SendTaskSuccess'] },
    'set-task-priority': { ...NOTHING, tables: { tasks: rw, policies: 'write' } },
    // Fair share: operators set the shares; dispatch releases jobs by them, one round at a time.
    'get-shares': { ...NOTHING, tables: { policies: 'read' } },
    'put-shares': { ...NOTHING, tables: { policies: rw } },
    'dispatch-jobs': {
      ...NOTHING,
      // accounting: the cost so far of tasks with a budget.
      tables: { policies: rw, tasks: rw, sites: 'read', accounting: 'read' },
      sqs: ['GetQueueAttributes', 'GetQueueUrl', 'SendMessage'],
    },
    'resubmit-task': {
      ...NOTHING,
      tables: { tasks: rw, jobs: 'read', sites: 'read' },
      states: ['SendTaskSuccess', 'StartExecution'],
    },
    'resubmit-jobs': { ...NOTHING, tables: { tasks: rw, jobs: rw, sites: 'read' } },
    'report-ranges': { ...NOTHING, tables: { tasks: 'read', leases: 'read', ranges: rw } },
    'list-ranges': { ...NOTHING, tables: { tasks: 'read', ranges: 'read' } },
    'get-retry-policy': { ...NOTHING, tables: { policies: 'read' } },
    'list-retry-policy-versions': { ...NOTHING, tables: { policies: 'read' } },
    'put-retry-policy': { ...NOTHING, tables: { policies: rw } },
    'test-retry-policy': {
      ...NOTHING,
      tables: { tasks: 'read', jobs: 'read', attempts: 'read', sites: 'read', policies: 'read' },
    },
    // One site with its outcomes, history and test task's state: reads only.
    'get-site': { ...NOTHING, tables: { sites: 'read', tasks: 'read' } },
    'get-metrics': NOTHING,
    // Site health moves sites' status, and submits (starts) and cancels (releases) test tasks.
    'site-health': {
      ...NOTHING,
      tables: { sites: rw, tasks: rw, policies: 'write' },
      states: ['SendTaskSuccess', 'StartExecution'],
    },
    // Results: presigned downloads of what pilots wrote under tasks/, and nothing else of the bucket.
    'get-job-log': {
      ...NOTHING,
      tables: { tasks: 'read', jobs: 'read', attempts: 'read' },
      s3: ['GetObject tasks/*'],
    },
    'get-job-output': { ...NOTHING, tables: { tasks: 'read', jobs: 'read' }, s3: ['GetObject tasks/*'] },
    'list-task-outputs': { ...NOTHING, tables: { tasks: 'read', jobs: 'read' } },
    // Accounting: roll-ups read by key; a day's records read and written under accounting/ only.
    'get-accounting': { ...NOTHING, tables: { accounting: 'read' } },
    'export-accounting': { ...NOTHING, tables: { accounting: 'read' }, s3: ['PutObject accounting/*'] },
    'export-accounting-daily': { ...NOTHING, tables: { accounting: 'read' }, s3: ['PutObject accounting/*'] },
    // Notifications: users' webhooks and their deliveries live in the webhooks table only.
    'add-webhook': { ...NOTHING, tables: { webhooks: rw } },
    'list-webhooks': { ...NOTHING, tables: { webhooks: 'read' } },
    'remove-webhook': { ...NOTHING, tables: { webhooks: 'write' } },
    // The tasks table's feed (heads' state changes) to the bus; the counts read for the event.
    // Also the catalog's step at a task's end: merged outputs registered, the output dataset closed.
    'publish-task-events': {
      ...NOTHING,
      tables: { tasks: 'read', catalog: rw },
      streams: ['tasks'],
      events: ['PutEvents'],
      // A meta-task node's task end returns the meta-task workflow's token.
      states: ['meta-task:SendTaskSuccess'],
    },
    'deliver-webhooks': { ...NOTHING, tables: { webhooks: rw } },
    'retry-webhooks': { ...NOTHING, tables: { webhooks: rw } },
    // The catalog: its table, sites read (an endpoint's sites exist), the results endpoint's
    // objects listed and read (registration from a listing; the dev stage names no data bucket).
    'catalog-api': {
      ...NOTHING,
      tables: { catalog: rw, sites: 'read' },
      s3: ['GetObject tasks/*', 'ListBucket (bucket)'],
    },
    // Rules: items of the catalog table; new transfers sent to the transfers queue.
    'rules-api': {
      ...NOTHING,
      tables: { catalog: rw },
      sqs: ['GetQueueAttributes transfers', 'GetQueueUrl transfers', 'SendMessage transfers'],
    },
    // The transfer service: its queue consumed (and retries sent to it), copies read, written and
    // deleted in the results bucket's tasks/ (the stage names no other data bucket).
    'transfer-files': {
      ...NOTHING,
      tables: { catalog: rw },
      sqs: [
        'ChangeMessageVisibility transfers',
        'DeleteMessage transfers',
        'GetQueueAttributes transfers',
        'GetQueueAttributes transfers',
        'GetQueueUrl transfers',
        'GetQueueUrl transfers',
        'ReceiveMessage transfers',
        'SendMessage transfers',
      ],
      s3: ['AbortMultipartUpload tasks/*', 'DeleteObject tasks/*', 'GetObject tasks/*', 'PutObject tasks/*'],
    },
    // Meta-tasks (items of the tasks table): the API cancels, pauses and resumes nodes' tasks
    // (their waits released, dispatch told) and starts or wakes the meta-task workflow.
    'meta-task-api': {
      ...NOTHING,
      tables: { tasks: rw, policies: 'write' },
      states: ['SendTaskSuccess', 'meta-task:SendTaskSuccess', 'meta-task:StartExecution'],
    },
    // Advance submits ready nodes' tasks (their workflows started).
    'advance-meta-task': { ...NOTHING, tables: { tasks: rw, catalog: rw }, states: ['StartExecution'] },
    'wait-for-nodes': { ...NOTHING, tables: { tasks: rw }, states: ['meta-task:SendTaskSuccess'] },
    // Cloud provisioning: the sites (last decision and history written), queue depths for the
    // demand rule, and (the dev stage has launch templates, no Batch queue) EC2 launches.
    'provision-pilots': {
      ...NOTHING,
      tables: { sites: rw },
      sqs: ['GetQueueAttributes', 'GetQueueUrl'],
      cloud: [
        'ec2:CreateFleet',
        'ec2:CreateTags',
        'ec2:DescribeInstances',
        'ec2:DescribeSpotPriceHistory',
        'ec2:RunInstances',
        'iam:PassRole',
      ],
    },
  };

  const tableOf = (resource: string): TableKey => {
    const match = /^<(\w+)Table\.Arn>(\/index\/\*)?$/.exec(resource);
    if (match === null) throw new Error(`DynamoDB grant on ${resource}, not on a table of this stack`);
    return match[1]?.toLowerCase() as TableKey;
  };

  /** What a function's role allows, summarised as in EXPECTED; also checks each statement's resources. */
  function accessOf(name: string): Access {
    const allows = roleStatements(resources, `${STACK}/Functions/${name}/Role`).filter(
      (s) => s.Effect === 'Allow',
    );
    const tableActions = new Map<TableKey, Set<string>>();
    const access: Access = { tables: {}, streams: [], sqs: [], states: [], s3: [], sts: [] };
    for (const statement of allows) {
      const actions = actionsOf(statement);
      const resourceList = resourcesOf(statement);
      const service = actions[0]?.split(':')[0];
      expect(
        actions.every((a) => a.startsWith(`${service}:`)),
        `${name}: one service per statement`,
      ).toBe(true);
      const operations = actions.map((a) => a.slice(`${service}:`.length));
      if (service === 'logs') {
        expect(operations.sort(), name).toEqual(['CreateLogStream', 'PutLogEvents']);
        expect(resourceList, name).toEqual([`<${logGroupOf(name)}.Arn>`]);
      } else if (service === 'xray') {
        // Active tracing: trace uploads only (X-Ray has no resource-level permissions).
        expect(operations.sort(), name).toEqual(['PutTelemetryRecords', 'PutTraceSegments']);
        expect(resourceList, name).toEqual(['*']);
      } else if (
        service === 'dynamodb' &&
        resourceList.every((r) => r.endsWith('.StreamArn>') || r === '*')
      ) {
        // The event source mapping's grant: read the stream (ListStreams has no resource-level permission).
        for (const resource of resourceList) {
          if (resource === '*') {
            expect(operations, name).toEqual(['ListStreams']);
            continue;
          }
          expect(operations.sort(), name).toEqual(['DescribeStream', 'GetRecords', 'GetShardIterator']);
          const table = /^<(\w+)Table\.StreamArn>$/.exec(resource)?.[1]?.toLowerCase() as TableKey;
          if (!access.streams.includes(table)) access.streams.push(table);
        }
      } else if (service === 'dynamodb') {
        for (const resource of resourceList) {
          const set = tableActions.get(tableOf(resource)) ?? new Set<string>();
          for (const operation of operations) set.add(operation);
          tableActions.set(tableOf(resource), set);
        }
      } else if (service === 'sqs' && /^<TransfersTransfersQueue\w+\.Arn>$/.test(resourceList[0] ?? '')) {
        // The transfers queue (a queue of the stack, not made at run time).
        expect(resourceList, name).toHaveLength(1);
        access.sqs.push(...operations.map((o) => `${o} transfers`));
      } else if (service === 'sqs') {
        // Site queues summarised by operation alone, range queues as `<operation> ranges-*`.
        const queuePrefix = `arn:<AWS::Partition>:sqs:<AWS::Region>:<AWS::AccountId>:${STACK}-`;
        expect(resourceList, name).toHaveLength(1);
        expect([`${queuePrefix}site-*`, `${queuePrefix}ranges-*`], name).toContain(resourceList[0]);
        const queues = resourceList[0]?.slice(queuePrefix.length);
        access.sqs.push(...operations.map((o) => (queues === 'site-*' ? o : `${o} ${queues}`)));
      } else if (service === 'states') {
        const arn = `arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:stateMachine:${STACK}`;
        expect(resourceList, name).toHaveLength(1);
        expect([`${arn}-task`, `${arn}-meta-task`], name).toContain(resourceList[0]);
        // The meta-task state machine's operations are written `meta-task:<operation>`.
        const meta = resourceList[0] === `${arn}-meta-task`;
        access.states.push(...operations.map((o) => (meta ? `meta-task:${o}` : o)));
      } else if (service === 'sts') {
        expect(resourceList, name).toEqual([`<${pilotRoleId()}.Arn>`]);
        access.sts.push(...operations);
      } else if (service === 'events') {
        expect(resourceList, name).toEqual([`<${taskEventBusId()}.Arn>`]);
        access.events = [...(access.events ?? []), ...operations];
      } else if (service === 's3') {
        for (const resource of resourceList) {
          // Listing is granted on the bucket itself.
          const prefix =
            resource === '<DataBucket.Arn>' ? '(bucket)' : /^<DataBucket\.Arn>\/(.+)$/.exec(resource)?.[1];
          expect(prefix, `${name} ${resource}`).toBeDefined();
          access.s3.push(...operations.map((o) => `${o} ${prefix}`));
        }
      } else if (service === 'ec2' || service === 'iam' || service === 'batch') {
        // Launch templates, tags, the instance role, job queues: asserted in provisioning.test.ts.
        access.cloud = [...new Set([...(access.cloud ?? []), ...actions])].sort();
      } else {
        throw new Error(`${name}: unexpected permission ${actions.join(', ')}`);
      }
    }
    for (const [table, operations] of tableActions) {
      const reads = READ_ACTIONS.some((a) => operations.has(a.slice('dynamodb:'.length)));
      const writes = WRITE_ACTIONS.some((a) => operations.has(a.slice('dynamodb:'.length)));
      access.tables[table] = reads && writes ? 'read-write' : reads ? 'read' : 'write';
    }
    access.sqs.sort();
    access.streams.sort();
    access.states.sort();
    access.s3.sort();
    access.sts.sort();
    return access;
  }

  it('has an expectation for every function', () => {
    expect(Object.keys(EXPECTED).sort()).toEqual([...functionsByName().keys()].sort());
    expect(Object.keys(FUNCTION_ACCESS).sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  for (const [name, expected] of Object.entries(EXPECTED)) {
    it(`grants ${name} only what its use case needs`, () => {
      expect(accessOf(name)).toEqual(expected);
    });
  }

  function logGroupOf(name: string): string {
    const fn = resources[logicalIdOfName(name)] as CfnResource;
    return render((propsOf(fn).LoggingConfig as { LogGroup: unknown }).LogGroup).slice(1, -1);
  }

  it('keeps functions out of the site DLQs, and out of the range DLQs but those that send fatal ranges there', () => {
    const queues = `arn:<AWS::Partition>:sqs:<AWS::Region>:<AWS::AccountId>:${STACK}`;
    /** Functions that put the messages of fatal ranges into a range DLQ (from the use cases). */
    const RANGE_DLQ_SENDERS = ['record-range-changes'];
    for (const [name, access] of Object.entries(FUNCTION_ACCESS)) {
      const denies = roleStatements(resources, `${STACK}/Functions/${name}/Role`).filter(
        (s) => s.Effect === 'Deny',
      );
      for (const statement of denies) expect(actionsOf(statement), name).toEqual(['sqs:SendMessage']);
      const sendsRanges = access.rangeQueues?.includes('send') === true;
      expect(denies.flatMap(resourcesOf).sort(), name).toEqual(
        [
          ...(access.siteQueues?.includes('send') ? [`${queues}-site-*-dlq`] : []),
          ...(sendsRanges && !RANGE_DLQ_SENDERS.includes(name) ? [`${queues}-ranges-*-dlq`] : []),
        ].sort(),
      );
    }
  });
});

describe('notifications', () => {
  it('has one task event bus, and a rule per EVENT_FUNCTIONS entry sending matching events to its function, with a DLQ', () => {
    const busId = taskEventBusId();
    const rules = ofType(resources, 'AWS::Events::Rule');
    expect(rules).toHaveLength(EVENT_FUNCTIONS.length);
    for (const target of EVENT_FUNCTIONS) {
      const rule = rules.find(([, r]) =>
        cdkPath(r).endsWith(`/Notifications/${pascalCase(target.functionName)}/Resource`),
      );
      expect(rule, target.functionName).toBeDefined();
      const props = propsOf((rule as [string, CfnResource])[1]);
      expect(render(props.EventBusName)).toBe(`<${busId}>`);
      expect(props.EventPattern).toEqual(target.pattern);
      const targets = props.Targets as Array<Record<string, unknown>>;
      expect(targets).toHaveLength(1);
      expect(render(targets[0]?.Arn)).toBe(`<${logicalIdOfName(target.functionName)}.Arn>`);
      expect(targets[0]?.DeadLetterConfig).toBeDefined();
    }
    expect(EVENT_FUNCTIONS[0]?.pattern.detail.to).toEqual(['done', 'failed', 'partial', 'cancelled']);
  });

  it('tells only the publishing function the bus, and feeds it head items of the tasks table only', () => {
    for (const [name, { resource }] of functionsByName()) {
      const variables = (propsOf(resource).Environment as { Variables: Record<string, unknown> }).Variables;
      if (name === 'publish-task-events')
        expect(render(variables.GLUON_EVENT_BUS_NAME)).toBe(`<${taskEventBusId()}>`);
      else expect(variables.GLUON_EVENT_BUS_NAME, name).toBeUndefined();
    }
    const publisher = logicalIdOfName('publish-task-events');
    const mappings = ofType(resources, 'AWS::Lambda::EventSourceMapping').filter(
      ([, m]) => render(propsOf(m).FunctionName) === `<${publisher}>`,
    );
    expect(mappings).toHaveLength(1);
    const props = propsOf((mappings[0] as [string, CfnResource])[1]);
    expect(render(props.EventSourceArn)).toBe('<TasksTable.StreamArn>');
    const filters = (props.FilterCriteria as { Filters: Array<{ Pattern: string }> }).Filters;
    expect(filters.map((f) => JSON.parse(f.Pattern))).toEqual([
      { dynamodb: { Keys: { sk: { S: ['task'] } } } },
    ]);
  });
});

describe('api', () => {
  const routes = () =>
    new Map(
      ofType(resources, 'AWS::ApiGatewayV2::Route').map(([, r]) => [r.Properties?.RouteKey as string, r]),
    );

  it('has one route per ROUTES entry, each behind the JWT authorizer with the route scopes', () => {
    const authorizers = ofType(resources, 'AWS::ApiGatewayV2::Authorizer');
    expect(authorizers).toHaveLength(1);
    const [authorizerId, authorizer] = authorizers[0] as [string, CfnResource];
    expect(authorizer.Properties?.AuthorizerType).toBe('JWT');
    expect(authorizer.Properties?.JwtConfiguration).toEqual({
      Issuer: stage.auth.issuer,
      Audience: stage.auth.audience,
    });

    expect(routes().size).toBe(ROUTES.length);
    for (const route of ROUTES) {
      const key = `${route.method} ${route.path}`;
      const built = routes().get(key);
      expect(built, key).toBeDefined();
      expect(built?.Properties?.AuthorizationType, key).toBe('JWT');
      expect(render(built?.Properties?.AuthorizerId), key).toBe(`<${authorizerId}>`);
      expect(route.scopes.length, key).toBeGreaterThan(0);
      expect(built?.Properties?.AuthorizationScopes, key).toEqual(route.scopes);
    }
  });

  it('sends each route to the function ROUTES names', () => {
    for (const route of ROUTES) {
      const key = `${route.method} ${route.path}`;
      const target = render(routes().get(key)?.Properties?.Target); // integrations/<IntegrationId>
      const integrationId = /^integrations\/<(\w+)>$/.exec(target)?.[1] as string;
      const integration = resources[integrationId] as CfnResource;
      expect(integration.Properties?.IntegrationType, key).toBe('AWS_PROXY');
      expect(render(integration.Properties?.IntegrationUri), key).toBe(
        `<${logicalIdOfName(route.functionName)}.Arn>`,
      );
    }
  });

  it('routes credential renewals, site demand and the sites to their functions, with their scopes', () => {
    const expected: Record<string, { functionName: string; scopes: string[] }> = {
      'POST /pilots/{pilotId}/credentials': {
        functionName: 'renew-pilot-credentials',
        scopes: ['gluon.pilot'],
      },
      'GET /sites/{siteId}/demand': { functionName: 'site-demand', scopes: ['gluon.pilot', 'gluon.admin'] },
      'GET /tasks/{taskId}/why': { functionName: 'explain-task', scopes: ['compute.read'] },
      'GET /tasks/{taskId}/jobs/{jobIndex}/why': { functionName: 'explain-job', scopes: ['compute.read'] },
      'GET /sites': { functionName: 'list-sites', scopes: ['compute.read', 'gluon.admin'] },
      'PUT /sites/{siteId}': { functionName: 'put-site', scopes: ['gluon.admin'] },
      'GET /shares': { functionName: 'get-shares', scopes: ['compute.read'] },
      'PUT /shares': { functionName: 'put-shares', scopes: ['gluon.admin'] },
      'GET /retry-policy': { functionName: 'get-retry-policy', scopes: ['compute.read', 'gluon.admin'] },
      'PUT /retry-policy': { functionName: 'put-retry-policy', scopes: ['gluon.admin'] },
      'POST /retry-policy/test': {
        functionName: 'test-retry-policy',
        scopes: ['compute.read', 'gluon.admin'],
      },
      'GET /sites/{siteId}': { functionName: 'get-site', scopes: ['compute.read', 'gluon.admin'] },
      'GET /tasks/{taskId}/jobs/{jobIndex}/log': {
        functionName: 'get-job-log',
        scopes: ['compute.read', 'gluon.admin'],
      },
      'GET /tasks/{taskId}/jobs/{jobIndex}/outputs/{name}': {
        functionName: 'get-job-output',
        scopes: ['compute.read', 'gluon.admin'],
      },
      'GET /tasks/{taskId}/outputs': {
        functionName: 'list-task-outputs',
        scopes: ['compute.read', 'gluon.admin'],
      },
      'GET /metrics': { functionName: 'get-metrics', scopes: ['gluon.admin'] },
    };
    for (const [key, { functionName, scopes }] of Object.entries(expected)) {
      const built = routes().get(key);
      expect(built, key).toBeDefined();
      expect(built?.Properties?.AuthorizationScopes, key).toEqual(scopes);
      const target = render(built?.Properties?.Target);
      const integrationId = /^integrations\/<(\w+)>$/.exec(target)?.[1] as string;
      expect(render(resources[integrationId]?.Properties?.IntegrationUri), key).toBe(
        `<${logicalIdOfName(functionName)}.Arn>`,
      );
    }
  });

  it('logs access to a log group and throttles the default stage', () => {
    const stages = ofType(resources, 'AWS::ApiGatewayV2::Stage');
    expect(stages).toHaveLength(1);
    const props = (stages[0] as [string, CfnResource])[1].Properties as Record<string, unknown>;
    expect(props.StageName).toBe('$default');
    expect(props.DefaultRouteSettings).toEqual({
      ThrottlingBurstLimit: stage.throttle.burstLimit,
      ThrottlingRateLimit: stage.throttle.rateLimit,
    });
    const logs = props.AccessLogSettings as { DestinationArn: unknown; Format: string };
    const logGroupId = /^<(\w+)\.Arn>$/.exec(render(logs.DestinationArn))?.[1] as string;
    expect(resources[logGroupId]?.Type).toBe('AWS::Logs::LogGroup');
    expect(JSON.parse(logs.Format)).toMatchObject({
      requestId: '$context.requestId',
      status: '$context.status',
    });
  });
});

describe('task workflow', () => {
  it('fills every placeholder of the ASL with the ARN of a workflow function of this template', () => {
    const { resource } = stateMachine();
    const location = resource.Properties?.DefinitionS3Location as { Key: string };
    const asl = readFileSync(join(synth.outdir, `asset.${location.Key}`), 'utf8');
    expect(asl).toBe(readFileSync(join(PROJECT_ROOT, 'statemachines/task.asl.json'), 'utf8'));

    const substitutions = resource.Properties?.DefinitionSubstitutions as Record<string, unknown>;
    expect(Object.keys(substitutions).sort()).toEqual([...placeholdersOf(asl)].sort());
    expect(Object.keys(substitutions).sort()).toEqual(WORKFLOW_FUNCTIONS.map(substitutionName).sort());
    for (const name of WORKFLOW_FUNCTIONS) {
      expect(render(substitutions[substitutionName(name)]), name).toBe(`<${logicalIdOfName(name)}.Arn>`);
    }

    let resolved = asl;
    for (const [key, value] of Object.entries(substitutions))
      resolved = resolved.replaceAll(`\${${key}}`, render(value));
    expect(resolved).not.toMatch(/\$\{/);
    const definition = JSON.parse(resolved) as { States: Record<string, Record<string, unknown>> };
    const lambdaArns = new Set([...functionsByName().values()].map((f) => `<${f.logicalId}.Arn>`));
    for (const [stateName, state] of Object.entries(definition.States)) {
      if (state.Type !== 'Task') continue;
      const target =
        typeof state.Resource === 'string' && state.Resource.startsWith('arn:aws:states:::')
          ? (state.Parameters as { FunctionName: string }).FunctionName
          : (state.Resource as string);
      expect(lambdaArns.has(target), `${stateName} → ${target}`).toBe(true);
    }
  });

  it('lets the state machine invoke exactly the workflow functions, logs ALL and traces', () => {
    const { resource } = stateMachine();
    expect(resource.Properties?.LoggingConfiguration).toMatchObject({
      Level: 'ALL',
      IncludeExecutionData: true,
    });
    expect(resource.Properties?.TracingConfiguration).toEqual({ Enabled: true });
    const roleId = /^<(\w+)\.Arn>$/.exec(render(resource.Properties?.RoleArn))?.[1] as string;
    const rolePath = cdkPath(resources[roleId] as CfnResource).replace(/\/Resource$/, '');
    const invoke = roleStatements(resources, rolePath).filter((s) =>
      actionsOf(s).includes('lambda:InvokeFunction'),
    );
    expect(invoke).toHaveLength(1);
    expect(resourcesOf(invoke[0] as Statement).sort()).toEqual(
      WORKFLOW_FUNCTIONS.map((name) => `<${logicalIdOfName(name)}.Arn>`).sort(),
    );
  });
});

describe('meta-task workflow', () => {
  const path = `${STACK}/MetaTasks/Workflow/StateMachine/Resource`;

  it('is a Standard state machine named from the stack, running meta-task.asl.json with its two functions', () => {
    const { resource } = stateMachine(path);
    expect(resource.Properties?.StateMachineName).toBe(`${STACK}-meta-task`);
    expect(resource.Properties?.StateMachineType).toBe('STANDARD');
    const location = resource.Properties?.DefinitionS3Location as { Key: string };
    const asl = readFileSync(join(synth.outdir, `asset.${location.Key}`), 'utf8');
    expect(asl).toBe(readFileSync(join(PROJECT_ROOT, 'statemachines/meta-task.asl.json'), 'utf8'));
    const substitutions = resource.Properties?.DefinitionSubstitutions as Record<string, unknown>;
    expect(Object.keys(substitutions).sort()).toEqual(
      META_TASK_WORKFLOW_FUNCTIONS.map(substitutionName).sort(),
    );
    for (const name of META_TASK_WORKFLOW_FUNCTIONS)
      expect(render(substitutions[substitutionName(name)]), name).toBe(`<${logicalIdOfName(name)}.Arn>`);
  });

  it('logs ALL, traces, and may invoke exactly its functions', () => {
    const { resource } = stateMachine(path);
    expect(resource.Properties?.LoggingConfiguration).toMatchObject({
      Level: 'ALL',
      IncludeExecutionData: true,
    });
    expect(resource.Properties?.TracingConfiguration).toEqual({ Enabled: true });
    const roleId = /^<(\w+)\.Arn>$/.exec(render(resource.Properties?.RoleArn))?.[1] as string;
    const rolePath = cdkPath(resources[roleId] as CfnResource).replace(/\/Resource$/, '');
    const invoke = roleStatements(resources, rolePath).filter((s) =>
      actionsOf(s).includes('lambda:InvokeFunction'),
    );
    expect(invoke).toHaveLength(1);
    expect(resourcesOf(invoke[0] as Statement).sort()).toEqual(
      META_TASK_WORKFLOW_FUNCTIONS.map((name) => `<${logicalIdOfName(name)}.Arn>`).sort(),
    );
  });

  it('tells every function the meta-task state machine in GLUON_META_TASK_STATE_MACHINE_ARN', () => {
    for (const [fn, { resource }] of functionsByName()) {
      const variables = (propsOf(resource).Environment as { Variables: Record<string, unknown> }).Variables;
      expect(render(variables.GLUON_META_TASK_STATE_MACHINE_ARN), fn).toBe(
        `arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:stateMachine:${STACK}-meta-task`,
      );
    }
  });
});

describe('schedules', () => {
  it('runs each scheduled function with a role that may invoke only those functions', () => {
    const schedules = ofType(resources, 'AWS::Scheduler::Schedule');
    expect(schedules).toHaveLength(SCHEDULED_FUNCTIONS.length);
    const roleIds = new Set<string>();
    for (const scheduled of SCHEDULED_FUNCTIONS) {
      const fnArn = `<${logicalIdOfName(scheduled.functionName)}.Arn>`;
      const found = schedules.find(([, s]) => render((propsOf(s).Target as { Arn: unknown }).Arn) === fnArn);
      expect(found, scheduled.functionName).toBeDefined();
      const props = (found as [string, CfnResource])[1].Properties as Record<string, unknown>;
      expect(props.ScheduleExpression).toBe(
        `rate(${scheduled.everySec / 60} minute${scheduled.everySec === 60 ? '' : 's'})`,
      );
      roleIds.add(
        /^<(\w+)\.Arn>$/.exec(render((props.Target as { RoleArn: unknown }).RoleArn))?.[1] as string,
      );
    }
    expect(roleIds.size).toBe(1);
    const role = resources[[...roleIds][0] as string] as CfnResource;
    const statements = roleStatements(resources, cdkPath(role).replace(/\/Resource$/, ''));
    expect(statements.flatMap(actionsOf)).toEqual(['lambda:InvokeFunction']);
    expect(statements.flatMap(resourcesOf).sort()).toEqual(
      SCHEDULED_FUNCTIONS.map((s) => `<${logicalIdOfName(s.functionName)}.Arn>`).sort(),
    );
  });
});

describe('storage', () => {
  it('encrypts, blocks public access, requires TLS, logs access and expires sandboxes after 30 days', () => {
    const bucket = resources.DataBucket as CfnResource;
    const props = bucket.Properties as Record<string, unknown>;
    expect(props.BucketName).toBeUndefined();
    expect(JSON.stringify(props.BucketEncryption)).toContain('AES256');
    expect(props.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(
      render((props.LoggingConfiguration as { DestinationBucketName: unknown }).DestinationBucketName),
    ).toBe('<AccessLogsBucket>');
    const rules = (props.LifecycleConfiguration as { Rules: Array<Record<string, unknown>> }).Rules;
    expect(rules).toContainEqual(
      expect.objectContaining({ Prefix: 'sandboxes/', ExpirationInDays: 30, Status: 'Enabled' }),
    );
    expect(rules).toContainEqual(
      expect.objectContaining({
        AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
        Status: 'Enabled',
      }),
    );
    const policies = ofType(resources, 'AWS::S3::BucketPolicy').filter(
      ([, p]) => render(p.Properties?.Bucket) === '<DataBucket>',
    );
    const denyInsecure = asArray(
      (policies[0]?.[1].Properties?.PolicyDocument as { Statement: Statement[] } | undefined)?.Statement,
    ).filter((s) => s.Effect === 'Deny' && JSON.stringify(s.Condition).includes('aws:SecureTransport'));
    expect(denyInsecure).toHaveLength(1);
  });
});

describe('accounting', () => {
  const propsOfType = (type: string) =>
    ofType(resources, type).map(([, r]) => r.Properties as Record<string, unknown>);

  it('catalogs the Parquet and CSV exports in a Glue database, partitioned by day with projection', () => {
    const databases = propsOfType('AWS::Glue::Database');
    expect(databases).toHaveLength(1);
    const databaseName = (databases[0]?.DatabaseInput as { Name: string } | undefined)?.Name;
    expect(databaseName).toBe('gluon_dev_accounting');
    const tables = propsOfType('AWS::Glue::Table').map((p) => ({
      database: p.DatabaseName,
      input: p.TableInput as {
        Name: string;
        PartitionKeys: unknown;
        Parameters: Record<string, string>;
        StorageDescriptor: { Location: unknown; SerdeInfo: { SerializationLibrary: string } };
      },
    }));
    expect(tables.map((t) => t.input.Name).sort()).toEqual(['usage_csv', 'usage_parquet']);
    for (const { database, input } of tables) {
      const format = input.Name.slice('usage_'.length);
      expect(database).toBe(databaseName);
      expect(input.PartitionKeys).toEqual([{ Name: 'day', Type: 'string' }]);
      expect(render(input.StorageDescriptor.Location)).toBe(
        `s3://<DataBucket>/accounting/usage/format=${format}/`,
      );
      expect(input.Parameters).toMatchObject({
        'projection.enabled': 'true',
        'projection.day.type': 'date',
        'projection.day.format': 'yyyy-MM-dd',
      });
      expect(render(input.Parameters['storage.location.template'])).toBe(
        `s3://<DataBucket>/accounting/usage/format=${format}/day=\${day}/`,
      );
    }
    const parquet = tables.find((t) => t.input.Name === 'usage_parquet');
    expect(parquet?.input.StorageDescriptor.SerdeInfo.SerializationLibrary).toContain('ParquetHiveSerDe');
  });

  it('exports once a day, and only the export functions may write to the bucket under accounting/', () => {
    expect(SCHEDULED_FUNCTIONS).toContainEqual({ functionName: 'export-accounting-daily', everySec: 86_400 });
    const writers = Object.entries(FUNCTION_ACCESS)
      .filter(([, access]) => access.bucket?.includes('put-accounting'))
      .map(([name]) => name)
      .sort();
    expect(writers).toEqual(['export-accounting', 'export-accounting-daily']);
  });
});

describe('pilot credentials', () => {
  const VENDING = VENDING_FUNCTIONS;

  function pilotRoleProps(): Record<string, unknown> {
    return propsOf(resources[pilotRoleId()]);
  }

  function trustStatements(): Statement[] {
    return asArray((pilotRoleProps().AssumeRolePolicyDocument as { Statement: Statement[] }).Statement);
  }

  function functionRoleArn(name: string): string {
    const role = ofType(resources, 'AWS::IAM::Role').find(
      ([, r]) => cdkPath(r) === `${STACK}/Functions/${name}/Role/Resource`,
    );
    if (role === undefined) throw new Error(`no role of function ${name}`);
    return `<${role[0]}.Arn>`;
  }

  it('lets pilots of the configured account, with the external id, consume site and range queues and move sandboxes, inputs and outputs for at most 1 h', () => {
    expect(pilotRoleProps().MaxSessionDuration).toBeLessThanOrEqual(3600);
    const external = trustStatements().filter(
      (s) => s.Condition?.StringEquals?.['sts:ExternalId'] !== undefined,
    );
    expect(external).toHaveLength(1);
    expect(external[0]?.Condition).toEqual({ StringEquals: { 'sts:ExternalId': stage.pilots.externalId } });
    expect(actionsOf(external[0] as Statement)).toEqual(['sts:AssumeRole']);
    expect(render(((external[0] as Statement).Principal as { AWS: unknown }).AWS)).toBe(
      'arn:<AWS::Partition>:iam::<AWS::AccountId>:root',
    );

    const statements = roleStatements(resources, `${STACK}/PilotCredentials/Role`);
    const allowed = statements
      .filter((s) => s.Effect === 'Allow')
      .flatMap((s) => actionsOf(s).map((a) => `${a} ${resourcesOf(s).join(',')}`))
      .sort();
    const queues = `arn:<AWS::Partition>:sqs:<AWS::Region>:<AWS::AccountId>:${STACK}-site-*`;
    const ranges = `arn:<AWS::Partition>:sqs:<AWS::Region>:<AWS::AccountId>:${STACK}-ranges-*`;
    const consume = ['sqs:ReceiveMessage', 'sqs:ChangeMessageVisibility', 'sqs:DeleteMessage'];
    const consumeRanges = [...consume, 'sqs:SendMessage', 'sqs:GetQueueUrl'];
    expect(allowed).toEqual(
      [
        ...consume.map((action) => `${action} ${queues}`),
        ...consumeRanges.map((action) => `${action} ${ranges}`),
        's3:GetObject <DataBucket.Arn>/sandboxes/*',
        's3:GetObject <DataBucket.Arn>/inputs/*',
        's3:GetObject <DataBucket.Arn>/tasks/*',
        's3:PutObject <DataBucket.Arn>/tasks/*',
        's3:AbortMultipartUpload <DataBucket.Arn>/tasks/*',
        'dynamodb:UpdateItem <LeasesTable.Arn>',
      ].sort(),
    );
    // The patterns match the DLQs too: operators read those, pilots never.
    const denied = statements
      .filter((s) => s.Effect === 'Deny')
      .flatMap((s) => actionsOf(s).map((a) => `${a} ${resourcesOf(s).join(',')}`))
      .sort();
    expect(denied).toEqual(
      [
        ...consume.map((action) => `${action} ${queues}-dlq`),
        ...consumeRanges.map((action) => `${action} ${ranges}-dlq`),
      ].sort(),
    );
  });

  it('trusts the roles of the vending functions, and no other function, to assume it and tag the session', () => {
    const trust = trustStatements();
    expect(trust).toHaveLength(2);
    const vending = trust.find((s) => s.Condition?.StringEquals?.['sts:ExternalId'] === undefined);
    expect(vending?.Effect).toBe('Allow');
    expect(actionsOf(vending as Statement).sort()).toEqual(['sts:AssumeRole', 'sts:TagSession']);
    const principals = asArray((vending?.Principal as { AWS?: unknown } | undefined)?.AWS).map(render);
    expect(principals.sort()).toEqual(VENDING.map(functionRoleArn).sort());
    for (const [name] of functionsByName()) {
      if (!VENDING.includes(name)) expect(principals, name).not.toContain(functionRoleArn(name));
    }
  });

  it('accepts the session tags StsCredentialVendor sends, and only those keys', async () => {
    const calls: Array<Record<string, unknown>> = [];
    const client = {
      send: async (command: { input: Record<string, unknown> }) => {
        if (!(command instanceof AssumeRoleCommand)) throw new Error('unexpected STS call');
        calls.push(command.input);
        return {
          Credentials: {
            AccessKeyId: 'AKIA',
            SecretAccessKey: 'secret',
            SessionToken: 'token',
            Expiration: new Date('2026-11-25T11:00:00Z'),
          },
        };
      },
    } as unknown as STSClient;
    await new StsCredentialVendor(client, 'arn:aws:iam::123456789012:role/pilots').vend({
      pilotId: 'p-abc',
      siteId: 'cern',
      queueUrl: 'https://sqs.eu-west-1.amazonaws.com/123456789012/gluon-dev-site-cern',
      bucket: 'data-bucket',
      leaseTable: 'leases',
    });
    const sent = ((calls[0]?.Tags ?? []) as Array<{ Key: string }>).map((t) => t.Key);
    expect(sent.length).toBeGreaterThan(0);
    const vending = trustStatements().find(
      (s) => s.Condition?.StringEquals?.['sts:ExternalId'] === undefined,
    );
    expect(vending?.Condition).toEqual({ 'ForAllValues:StringEquals': { 'aws:TagKeys': sent } });
    // A session may last as long as the vendor asks (role chaining from a function caps it at 1 h).
    expect(calls[0]?.DurationSeconds).toBeLessThanOrEqual(pilotRoleProps().MaxSessionDuration as number);
  });

  it('grants through the role everything a vended session policy names (the role is its upper bound)', () => {
    const bucket = 'gluon-dev-databucket-x1';
    const account = '123456789012';
    const region = 'eu-west-1';
    const leaseTable = 'gluon-dev-LeasesTable-X1';
    const policy = sessionPolicy(
      {
        pilotId: 'p-abcdef12',
        siteId: 'cern',
        queueUrl: `https://sqs.${region}.amazonaws.com/${account}/${STACK}-site-cern`,
        bucket,
        leaseTable,
      },
      `arn:aws:iam::${account}:role/gluon-dev-PilotCredentialsRole-X`,
    );
    const concrete = (pattern: string) =>
      pattern
        .replaceAll('<AWS::Partition>', 'aws')
        .replaceAll('<AWS::Region>', region)
        .replaceAll('<AWS::AccountId>', account)
        .replaceAll('<DataBucket.Arn>', `arn:aws:s3:::${bucket}`)
        .replaceAll('<LeasesTable.Arn>', `arn:aws:dynamodb:${region}:${account}:table/${leaseTable}`);
    const matches = (pattern: string, value: string) =>
      new RegExp(
        `^${pattern
          .split('*')
          .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
          .join('.*')}$`,
      ).test(value);
    const role = roleStatements(resources, `${STACK}/PilotCredentials/Role`);
    const permits = (effect: 'Allow' | 'Deny', action: string, resource: string) =>
      role.some(
        (s) =>
          s.Effect === effect &&
          actionsOf(s).includes(action) &&
          resourcesOf(s).some((r) => matches(concrete(r), resource)),
      );
    const pairs = (effect: 'Allow' | 'Deny') =>
      policy.Statement.filter((statement) => statement.Effect === effect).flatMap((statement) =>
        asArray(statement.Action as string | string[]).flatMap((action) =>
          asArray(statement.Resource as string | string[]).map((resource) => ({ action, resource })),
        ),
      );
    expect(pairs('Allow').length).toBeGreaterThanOrEqual(6);
    for (const { action, resource } of pairs('Allow')) {
      expect(permits('Allow', action, resource), `${action} ${resource}`).toBe(true);
      expect(permits('Deny', action, resource), `${action} ${resource}`).toBe(false);
    }
    // What the session denies (the range DLQs), the role denies as well.
    expect(pairs('Deny').length).toBeGreaterThan(0);
    for (const { action, resource } of pairs('Deny')) {
      expect(permits('Deny', action, resource), `${action} ${resource}`).toBe(true);
    }
  });
});

describe('observability', () => {
  const alarms = () =>
    ofType(resources, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties as Record<string, unknown>);

  it('alarms on failed and timed-out workflow executions', () => {
    const { logicalId } = stateMachine();
    for (const metricName of ['ExecutionsFailed', 'ExecutionsTimedOut']) {
      const found = alarms().filter(
        (a) =>
          a.Namespace === 'AWS/States' &&
          a.MetricName === metricName &&
          render((a.Dimensions as Array<{ Value: unknown }>)[0]?.Value) === `<${logicalId}>`,
      );
      expect(found, metricName).toHaveLength(1);
    }
  });

  it('alarms on errors and throttles of every function, summed over groups of at most 10', () => {
    // An alarm on metric math: its metrics are MetricStats (ReturnData false) under one expression.
    type MathMetric = {
      Id: string;
      Expression?: string;
      MetricStat?: {
        Metric: { Namespace: string; MetricName: string; Dimensions: Array<{ Value: unknown }> };
      };
    };
    const mathAlarms = alarms().filter((a) => Array.isArray(a.Metrics));
    for (const alarm of mathAlarms) {
      const metrics = alarm.Metrics as MathMetric[];
      const stats = metrics.filter((m) => m.MetricStat !== undefined);
      expect(stats.length, String(alarm.AlarmDescription)).toBeLessThanOrEqual(10);
      expect(metrics.find((m) => m.Expression !== undefined)?.Expression).toBe(
        `SUM([${stats.map((m) => m.Id).join(', ')}])`,
      );
    }
    for (const [name, { logicalId }] of functionsByName()) {
      for (const metricName of ['Errors', 'Throttles']) {
        const found = mathAlarms.filter((a) =>
          (a.Metrics as MathMetric[]).some(
            (m) =>
              m.MetricStat?.Metric.Namespace === 'AWS/Lambda' &&
              m.MetricStat.Metric.MetricName === metricName &&
              render(m.MetricStat.Metric.Dimensions[0]?.Value) === `<${logicalId}>`,
          ),
        );
        expect(found, `${name} ${metricName}`).toHaveLength(1);
      }
    }
  });

  it('alarms on the reaper backlog (Gluon/JobsRequeued)', () => {
    const found = alarms().filter((a) => a.Namespace === 'Gluon' && a.MetricName === 'JobsRequeued');
    expect(found).toHaveLength(1);
    expect(found[0]?.Threshold).toBe(stage.alarms.jobsRequeuedPer5Min);
  });

  it('gives every function the Powertools settings and active X-Ray tracing', () => {
    for (const [name, { resource }] of functionsByName()) {
      const props = propsOf(resource);
      const variables = (props.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(variables, name).toMatchObject({
        POWERTOOLS_SERVICE_NAME: 'gluon',
        POWERTOOLS_METRICS_NAMESPACE: 'Gluon',
        POWERTOOLS_TRACE_ENABLED: 'true',
        LOG_LEVEL: 'INFO',
      });
      expect(props.TracingConfig, name).toEqual({ Mode: 'Active' });
    }
  });

  it('alarms on lost pilots and DynamoDB throttles (Gluon/PilotsLost, Gluon/DynamoDbThrottles)', () => {
    for (const [metricName, threshold] of [
      ['PilotsLost', stage.alarms.pilotsLostPer5Min],
      ['DynamoDbThrottles', stage.alarms.dynamoDbThrottlesPer5Min],
    ] as const) {
      const found = alarms().filter((a) => a.Namespace === 'Gluon' && a.MetricName === metricName);
      expect(found, metricName).toHaveLength(1);
      expect(found[0]?.Threshold, metricName).toBe(threshold);
      expect(found[0]?.Dimensions, metricName).toBeUndefined();
    }
  });

  it('shows the job metrics on the dashboard: starts, ends by outcome, retries by code, claim latency, queue depth per site, lost pilots, throttles', () => {
    const [[, dashboard]] = ofType(resources, 'AWS::CloudWatch::Dashboard') as [[string, CfnResource]];
    // The body is a Fn::Join of JSON text and references (the region): references as placeholders.
    const [, parts] = (propsOf(dashboard).DashboardBody as { 'Fn::Join': [string, unknown[]] })['Fn::Join'];
    const body = JSON.parse(parts.map((p) => (typeof p === 'string' ? p : 'REF')).join('')) as {
      widgets: Array<{ properties: { metrics?: unknown[][] } }>;
    };
    const metrics = body.widgets.flatMap((w) => w.properties.metrics ?? []);
    const named = metrics.filter((m) => m[0] === 'Gluon').map((m) => m[1]);
    expect(named).toEqual(
      expect.arrayContaining([
        'JobsStarted',
        'ClaimLatency',
        'PilotsLost',
        'DynamoDbThrottles',
        'TaskEventsPublished',
        'WebhooksDelivered',
        'WebhookDeliveriesFailed',
      ]),
    );
    const searches = metrics.map((m) => (m[0] as { expression?: string }).expression ?? '');
    for (const [metricName, dimension] of [
      ['JobsEnded', 'outcome'],
      ['RetriesByErrorCode', 'pilotErrorCode'],
      ['QueueDepth', 'siteId'],
    ])
      expect(searches, metricName).toContain(
        `SEARCH('{Gluon,${dimension}} MetricName="${metricName}"', '${metricName === 'QueueDepth' ? 'Maximum' : 'Sum'}', 300)`,
      );
  });

  it('sends every alarm to the alarm topic, which mails the stage address', () => {
    const topics = ofType(resources, 'AWS::SNS::Topic');
    expect(topics).toHaveLength(1);
    const [topicId, topic] = topics[0] as [string, CfnResource];
    expect(topic.Properties?.KmsMasterKeyId).toBeDefined();
    for (const alarm of alarms()) {
      expect(asArray(alarm.AlarmActions as unknown[]).map(render), String(alarm.MetricName)).toEqual([
        `<${topicId}>`,
      ]);
    }
    const subscriptions = ofType(resources, 'AWS::SNS::Subscription').map(([, s]) => s.Properties);
    expect(subscriptions).toEqual([
      expect.objectContaining({ Protocol: 'email', Endpoint: stage.alarmEmail, TopicArn: { Ref: topicId } }),
    ]);
    expect(ofType(resources, 'AWS::CloudWatch::Dashboard')).toHaveLength(1);
  });
});

describe('deployment order', () => {
  /** Logical ids a value refers to: Ref, Fn::GetAtt and ${Id} / ${Id.Attr} in Fn::Sub (pseudo parameters left out). */
  function referencesIn(value: unknown, out: Set<string>): void {
    if (Array.isArray(value)) {
      for (const item of value) referencesIn(item, out);
      return;
    }
    if (value === null || typeof value !== 'object') return;
    for (const [key, inner] of Object.entries(value as Record<string, unknown>)) {
      if (key === 'Ref' && typeof inner === 'string') out.add(inner);
      else if (key === 'Fn::GetAtt')
        out.add(String(asArray(inner as string | string[])[0]).split('.')[0] as string);
      else if (key === 'Fn::Sub') {
        const text = Array.isArray(inner) ? String(inner[0]) : String(inner);
        for (const match of text.matchAll(/\$\{([^}!.]+)[^}]*\}/g)) out.add(match[1] as string);
        if (Array.isArray(inner)) referencesIn(inner[1], out);
      } else referencesIn(inner, out);
    }
  }

  function dependencies(): Map<string, Set<string>> {
    const graph = new Map<string, Set<string>>();
    for (const [id, resource] of Object.entries(resources)) {
      const refs = new Set<string>(asArray(resource.DependsOn));
      referencesIn(resource.Properties, refs);
      graph.set(id, new Set([...refs].filter((r) => r in resources)));
    }
    return graph;
  }

  /** A dependency cycle as a list of logical ids, or undefined. */
  function findCycle(graph: Map<string, Set<string>>): string[] | undefined {
    const state = new Map<string, 'open' | 'done'>();
    const path: string[] = [];
    const visit = (id: string): string[] | undefined => {
      if (state.get(id) === 'done') return undefined;
      if (state.get(id) === 'open') return [...path.slice(path.indexOf(id)), id];
      state.set(id, 'open');
      path.push(id);
      for (const next of graph.get(id) ?? []) {
        const cycle = visit(next);
        if (cycle !== undefined) return cycle;
      }
      path.pop();
      state.set(id, 'done');
      return undefined;
    };
    for (const id of graph.keys()) {
      const cycle = visit(id);
      if (cycle !== undefined) return cycle;
    }
    return undefined;
  }

  it('has no dependency cycle between resources (CloudFormation would refuse the stack)', () => {
    const graph = dependencies();
    expect(findCycle(graph)).toBeUndefined();
    // The pilot role trusts the vending function roles; their policies and functions refer back to it.
    const pilotRole = pilotRoleId();
    const registerRole = functionRoleId('register-pilot');
    expect(graph.get(pilotRole)?.has(registerRole)).toBe(true);
    expect(graph.get(logicalIdOfName('register-pilot'))?.has(pilotRole)).toBe(true);
  });

  it('finds a cycle when there is one (the check can fail)', () => {
    const graph = dependencies();
    const pilotRole = pilotRoleId();
    graph.get(functionRoleId('register-pilot'))?.add(pilotRole);
    expect(findCycle(graph)).toEqual(expect.arrayContaining([pilotRole, functionRoleId('register-pilot')]));
  });

  function functionRoleId(name: string): string {
    const role = ofType(resources, 'AWS::IAM::Role').find(
      ([, r]) => cdkPath(r) === `${STACK}/Functions/${name}/Role/Resource`,
    );
    if (role === undefined) throw new Error(`no role of function ${name}`);
    return role[0];
  }
});

describe('environment agnostic', () => {
  it('names no account or region and sets no physical names on stateful resources', () => {
    expect(synth.stack.account).toMatch(/^\$\{Token\[/);
    expect(synth.stack.region).toMatch(/^\$\{Token\[/);
    const text = JSON.stringify(synth.template.toJSON());
    expect(text).not.toMatch(/\b\d{12}\b/);
    expect(text).not.toMatch(
      /\b(us|eu|ap|sa|ca|me|af)-(east|west|north|south|central|northeast|southeast)-\d\b/,
    );
    const nameProperty: Record<string, string> = {
      'AWS::DynamoDB::Table': 'TableName',
      'AWS::S3::Bucket': 'BucketName',
      'AWS::SQS::Queue': 'QueueName',
      'AWS::Lambda::Function': 'FunctionName',
      'AWS::SNS::Topic': 'TopicName',
      'AWS::Logs::LogGroup': 'LogGroupName',
      'AWS::IAM::Role': 'RoleName',
      'AWS::KMS::Key': 'KeyId',
    };
    for (const [id, r] of Object.entries(resources)) {
      const key = nameProperty[r.Type];
      if (key !== undefined) expect(r.Properties?.[key], `${id}.${key}`).toBeUndefined();
    }
  });
});
