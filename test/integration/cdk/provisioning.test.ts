/**
 * Cloud provisioning in the stack (cdk/constructs/provisioning.ts): the launch templates, the
 * instance role, the provisioner's IAM and environment, the optional AWS Batch resources; for a
 * stage with a full `cloud` section (EC2 + a Spot compute environment), one with Fargate, and
 * one without cloud.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLOUD_TAGS } from '#core/provisioning/tags.ts';
import { pilotBundleAsset } from '../../../cdk/constructs/provisioning.ts';
import { FEATURE_FLAGS, PROJECT_ROOT } from '../../../cdk/gluon-app.ts';
import { GluonStack } from '../../../cdk/gluon-stack.ts';
import { parseStage, STAGES, type Stage, stageConfig } from '../../../cdk/stages.ts';
import { asArray, type CfnResource, cdkPath, ofType, propsOf, render, type Statement } from './synth.ts';

const SUBNETS = ['subnet-0a1b2c3d4e5f60718', 'subnet-0a1b2c3d4e5f60719'];
const SECURITY_GROUPS = ['sg-0123456789abcdef0', 'sg-0123456789abcdef1'];
const EXTERNAL_QUEUE = 'arn:aws:batch:eu-west-1:123456789012:job-queue/hep-pilots';

function cloudStage(batchType: 'SPOT' | 'FARGATE'): Stage {
  return parseStage({
    ...STAGES.dev,
    name: batchType === 'SPOT' ? 'cloudspot' : 'cloudfargate',
    cloud: {
      pilotTokenParameter: '/gluon/test/pilot-token',
      vpcSubnets: SUBNETS,
      securityGroupIds: SECURITY_GROUPS,
      batchJobQueues: ['site-queue-a', EXTERNAL_QUEUE],
      batchJobDefinitions: ['gluon-pilot'],
      batch: {
        computeEnvironment: {
          type: batchType,
          maxvCpus: 256,
          subnets: SUBNETS,
          securityGroupIds: SECURITY_GROUPS.slice(0, 1),
          ...(batchType === 'SPOT' ? { instanceTypes: ['c6i', 'm6i.large'] } : {}),
        },
      },
    },
  });
}

interface Synth {
  app: App;
  stack: GluonStack;
  resources: Record<string, CfnResource>;
}

function synth(stage: Stage): Synth {
  const app = new App({
    context: { ...FEATURE_FLAGS, 'aws:cdk:bundling-stacks': [], 'aws:cdk:enable-path-metadata': true },
  });
  const stack = new GluonStack(app, `gluon-${stage.name}`, { stage, projectRoot: PROJECT_ROOT });
  const resources = Template.fromStack(stack).toJSON().Resources as Record<string, CfnResource>;
  return { app, stack, resources };
}

/** The one resource at construct path `<stack>/<path>/Resource` (or the exact path). */
function byPath(s: Synth, path: string): [string, CfnResource] {
  const full = `${s.stack.stackName}/${path}`;
  const found = Object.entries(s.resources).filter(
    ([, r]) => cdkPath(r) === full || cdkPath(r) === `${full}/Resource`,
  );
  expect(found, path).toHaveLength(1);
  return found[0] as [string, CfnResource];
}

/** Every statement of the identity policies attached to a role (its default policy and others). */
function statementsOfRole(s: Synth, roleId: string): Statement[] {
  const out: Statement[] = [];
  for (const r of Object.values(s.resources)) {
    if (r.Type !== 'AWS::IAM::Policy') continue;
    if (!asArray(r.Properties?.Roles as unknown[]).some((ref) => render(ref) === `<${roleId}>`)) continue;
    const document = r.Properties?.PolicyDocument as { Statement: Statement[] } | undefined;
    out.push(...asArray(document?.Statement));
  }
  return out;
}

function provisionerRoleId(s: Synth): string {
  return byPath(s, 'Functions/provision-pilots/Role')[0];
}

function environmentOf(s: Synth, name: string): Record<string, unknown> {
  const [, fn] = byPath(s, `Functions/${name}/Function`);
  return (propsOf(fn).Environment as { Variables: Record<string, unknown> }).Variables;
}

const actions = (st: Statement) => asArray(st.Action as string | string[]);
const resourcesOf = (st: Statement) => asArray(st.Resource as unknown).map(render);

/** Statements with their resources rendered, Sid kept: comparable across roles. */
function normalised(statements: Statement[]): string[] {
  return statements
    .map((st) => JSON.stringify({ ...st, Action: actions(st).sort(), Resource: resourcesOf(st).sort() }))
    .sort();
}

function launchTemplateIds(s: Synth): string[] {
  return ofType(s.resources, 'AWS::EC2::LaunchTemplate').map(([id]) => id);
}

/** cdk-nag AwsSolutions findings nobody acknowledged, as `rule at paths`. */
function nagFindings(app: App): string[] {
  return new AwsSolutionsChecks()
    .validateScope(app)
    .violations.map((v) => `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath)}`);
}

const REGION_ACCOUNT = 'arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>';

describe('a stage with cloud settings (EC2 and a Spot compute environment)', () => {
  let s: Synth;
  beforeAll(() => {
    s = synth(cloudStage('SPOT'));
  }, 120_000);

  describe('launch templates', () => {
    it('has one per architecture, booting the latest Amazon Linux 2023 of that architecture', () => {
      const templates = ofType(s.resources, 'AWS::EC2::LaunchTemplate');
      expect(templates.map(([, t]) => cdkPath(t).split('/').at(-2)).sort()).toEqual([
        'LaunchTemplate-aarch64',
        'LaunchTemplate-x86_64',
      ]);
      const parameters =
        s.stack.resolve(s.stack.templateOptions) && Template.fromStack(s.stack).toJSON().Parameters;
      for (const [, t] of templates) {
        const data = propsOf(t).LaunchTemplateData as Record<string, unknown>;
        const image = render(data.ImageId).slice(1, -1);
        const parameter = (parameters as Record<string, { Default: string }>)[image];
        const arch = cdkPath(t).includes('aarch64') ? 'arm64' : 'x86_64';
        expect(parameter?.Default).toMatch(
          new RegExp(`^/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-[\\d.-]+${arch}$`),
        );
      }
    });

    it('requires IMDSv2, enables metadata tags, keeps one hop, and terminates on shutdown', () => {
      for (const id of launchTemplateIds(s)) {
        const data = propsOf(s.resources[id]).LaunchTemplateData as Record<string, unknown>;
        const metadata = data.MetadataOptions as Record<string, unknown>;
        expect(metadata.HttpTokens, id).toBe('required');
        expect(metadata.InstanceMetadataTags, id).toBe('enabled');
        expect(metadata.HttpPutResponseHopLimit as number, id).toBeLessThanOrEqual(2);
        expect(metadata.HttpEndpoint ?? 'enabled', id).toBe('enabled');
        expect(data.InstanceInitiatedShutdownBehavior, id).toBe('terminate');
      }
    });

    it('encrypts the root volume, uses the stage security groups and the instance profile of the instance role', () => {
      const [profileId, profile] = byPath(s, 'Provisioning/InstanceProfile');
      const [roleId] = byPath(s, 'Provisioning/InstanceRole');
      expect(asArray(propsOf(profile).Roles as unknown[]).map(render)).toEqual([`<${roleId}>`]);
      for (const id of launchTemplateIds(s)) {
        const data = propsOf(s.resources[id]).LaunchTemplateData as Record<string, unknown>;
        const devices = data.BlockDeviceMappings as Array<{ Ebs: Record<string, unknown> }>;
        expect(devices.length).toBeGreaterThan(0);
        for (const d of devices) expect(d.Ebs.Encrypted, id).toBe(true);
        expect(data.SecurityGroupIds).toEqual(SECURITY_GROUPS);
        expect(render((data.IamInstanceProfile as { Arn: unknown }).Arn)).toBe(`<${profileId}.Arn>`);
      }
    });

    it("boots the stage's pilot: the pilot object, the token parameter, the API, gluon-pilot cloud, then shutdown", () => {
      const [apiId] = ofType(s.resources, 'AWS::ApiGatewayV2::Api')[0] as [string, CfnResource];
      for (const id of launchTemplateIds(s)) {
        const data = propsOf(s.resources[id]).LaunchTemplateData as { UserData: { 'Fn::Base64': unknown } };
        const script = render(data.UserData['Fn::Base64']);
        expect(script).toMatch(/^#!\/bin\/bash\n/);
        expect(script).toContain('--name /gluon/test/pilot-token --with-decryption');
        expect(script).toContain(
          `export GLUON_API_URL='https://<${apiId}>.execute-api.<AWS::Region>.<AWS::URLSuffix>/'`,
        );
        expect(script).toContain(
          'aws s3 cp --region "$REGION" --only-show-errors \'s3://cdk-hnb659fds-assets-',
        );
        expect(script).toContain('"$NODE" "$PILOT" cloud');
        expect(script).toContain('trap \'echo "gluon: shutting down"; shutdown -h now\' EXIT');
      }
    });
  });

  describe('instance role', () => {
    it('may be assumed by EC2 only', () => {
      const [, role] = byPath(s, 'Provisioning/InstanceRole');
      const trust = propsOf(role).AssumeRolePolicyDocument as { Statement: Statement[] };
      expect(trust.Statement).toHaveLength(1);
      expect(trust.Statement[0]?.Principal).toEqual({ Service: 'ec2.amazonaws.com' });
      expect(trust.Statement[0]?.Action).toBe('sts:AssumeRole');
    });

    it("has exactly the pilot role's statements, plus reading the pilot object and the token parameter", () => {
      const [roleId] = byPath(s, 'Provisioning/InstanceRole');
      const [pilotRoleId] = byPath(s, 'PilotCredentials/Role');
      const pilot = statementsOfRole(s, pilotRoleId);
      const instance = statementsOfRole(s, roleId);
      expect(pilot.length).toBeGreaterThan(4);
      const boot = instance.filter((st) => st.Sid?.startsWith('Boot'));
      expect(normalised(instance.filter((st) => !st.Sid?.startsWith('Boot')))).toEqual(normalised(pilot));
      expect(boot.map((st) => [st.Sid, actions(st), resourcesOf(st)])).toEqual([
        [
          'BootReadPilot',
          ['s3:GetObject'],
          [
            expect.stringMatching(
              /^arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-\$\{AWS::AccountId\}-\$\{AWS::Region\}\/[0-9a-f]{64}\.\w+$/,
            ),
          ],
        ],
        [
          'BootReadPilotToken',
          ['ssm:GetParameter'],
          ['arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter/gluon/test/pilot-token'],
        ],
      ]);
    });
  });

  describe("the provisioner's IAM", () => {
    let statements: Statement[];
    let templateArns: string[];
    beforeAll(() => {
      statements = statementsOfRole(s, provisionerRoleId(s)).filter((st) => st.Effect === 'Allow');
      templateArns = launchTemplateIds(s)
        .map((id) => `${REGION_ACCOUNT}:launch-template/<${id}>`)
        .sort();
    });

    it('launches (CreateFleet, RunInstances) only from the stack launch templates', () => {
      const launching = statements.filter((st) =>
        actions(st).some((a) => a === 'ec2:RunInstances' || a === 'ec2:CreateFleet'),
      );
      expect(launching.length).toBeGreaterThanOrEqual(3);
      for (const st of launching) {
        const resources = resourcesOf(st);
        if (resources.every((r) => r.startsWith(`${REGION_ACCOUNT}:launch-template/`))) {
          expect(resources.sort()).toEqual(templateArns);
        } else if (resources.every((r) => r === `${REGION_ACCOUNT}:fleet/*`)) {
          // The instant fleet itself: it launches only through the statements checked here.
          expect(actions(st)).toEqual(['ec2:CreateFleet']);
        } else {
          const arnLike = st.Condition?.ArnLike?.['ec2:LaunchTemplate'];
          expect(
            asArray(arnLike as unknown[])
              .map(render)
              .sort(),
            st.Sid,
          ).toEqual(templateArns);
        }
      }
    });

    it('launches instances and volumes only with the stage tag', () => {
      const launching = statements.filter((st) => actions(st).includes('ec2:RunInstances'));
      const instances = launching.filter((st) =>
        resourcesOf(st).some((r) => r.endsWith(':instance/*') || r.endsWith(':volume/*')),
      );
      expect(instances).toHaveLength(1);
      for (const st of instances) {
        expect(resourcesOf(st).sort()).toEqual([
          `${REGION_ACCOUNT}:instance/*`,
          `${REGION_ACCOUNT}:volume/*`,
        ]);
        expect(st.Condition?.StringEquals).toEqual({ [`aws:RequestTag/${CLOUD_TAGS.stage}`]: 'cloudspot' });
      }
      // Subnets and security groups: the stage's only.
      const parts = launching.flatMap(resourcesOf);
      expect(parts.filter((r) => r.includes(':subnet/')).sort()).toEqual(
        SUBNETS.map((id) => `${REGION_ACCOUNT}:subnet/${id}`),
      );
      expect(parts.filter((r) => r.includes(':security-group/')).sort()).toEqual(
        SECURITY_GROUPS.map((id) => `${REGION_ACCOUNT}:security-group/${id}`),
      );
    });

    it('tags only as part of a launch', () => {
      const tagging = statements.filter((st) => actions(st).includes('ec2:CreateTags'));
      expect(tagging).toHaveLength(1);
      expect(actions(tagging[0] as Statement)).toEqual(['ec2:CreateTags']);
      expect(tagging[0]?.Condition).toEqual({
        StringEquals: { 'ec2:CreateAction': ['CreateFleet', 'RunInstances'] },
      });
    });

    it('passes only the instance role, and only to EC2', () => {
      const [roleId] = byPath(s, 'Provisioning/InstanceRole');
      const passing = statements.filter((st) => actions(st).some((a) => a.startsWith('iam:')));
      expect(passing).toHaveLength(1);
      expect(actions(passing[0] as Statement)).toEqual(['iam:PassRole']);
      expect(resourcesOf(passing[0] as Statement)).toEqual([`<${roleId}.Arn>`]);
      expect(passing[0]?.Condition).toEqual({ StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } });
    });

    it('submits pilot jobs only to the stage job queues and the stack queue, with their job definitions', () => {
      const [queueId] = byPath(s, 'Provisioning/BatchJobQueue');
      const [definitionId] = byPath(s, 'Provisioning/BatchJobDefinition');
      const submitting = statements.filter((st) => actions(st).includes('batch:SubmitJob'));
      expect(submitting).toHaveLength(1);
      expect(actions(submitting[0] as Statement)).toEqual(['batch:SubmitJob']);
      const batchArn = 'arn:<AWS::Partition>:batch:<AWS::Region>:<AWS::AccountId>';
      expect(resourcesOf(submitting[0] as Statement).sort()).toEqual(
        [
          `${batchArn}:job-queue/site-queue-a`,
          EXTERNAL_QUEUE,
          `<${queueId}.JobQueueArn>`,
          `${batchArn}:job-definition/gluon-pilot`,
          `${batchArn}:job-definition/gluon-pilot:*`,
          `<${definitionId}.JobDefinitionArn>`,
        ].sort(),
      );
      const tagging = statements.filter((st) => actions(st).includes('batch:TagResource'));
      expect(tagging.map(resourcesOf)).toEqual([[`${batchArn}:job/*`]]);
      expect(tagging[0]?.Condition).toEqual({
        StringEquals: { [`aws:RequestTag/${CLOUD_TAGS.stage}`]: 'cloudspot' },
      });
    });

    it('has no * resource but the Describe and ListJobs actions (no resource-level permission) and X-Ray', () => {
      const ALLOWED_ON_ANY = new Set([
        'ec2:DescribeInstances',
        'ec2:DescribeSpotPriceHistory',
        'batch:ListJobs',
        'xray:PutTraceSegments',
        'xray:PutTelemetryRecords',
      ]);
      const onAny = statements.filter((st) => resourcesOf(st).includes('*'));
      expect(onAny.flatMap(actions).sort()).toEqual([...ALLOWED_ON_ANY].sort());
      for (const st of onAny) expect(resourcesOf(st)).toEqual(['*']);
      const describe = onAny.find((st) => actions(st).includes('ec2:DescribeInstances'));
      expect(describe?.Condition).toEqual({ StringEquals: { 'ec2:Region': { Ref: 'AWS::Region' } } });
      // No wildcard actions either.
      for (const st of statements) for (const a of actions(st)) expect(a).not.toContain('*');
    });

    it('is the only role that may launch instances, pass the instance role or submit jobs', () => {
      const roleId = provisionerRoleId(s);
      for (const [id, r] of ofType(s.resources, 'AWS::IAM::Role')) {
        if (id === roleId) continue;
        for (const st of statementsOfRole(s, id)) {
          for (const a of actions(st)) {
            expect(
              ['ec2:RunInstances', 'ec2:CreateFleet', 'iam:PassRole', 'batch:SubmitJob'],
              cdkPath(r),
            ).not.toContain(a);
          }
        }
      }
    });
  });

  it('gives the provisioner its stage, launch templates and job queues, and runs it every minute', () => {
    const variables = environmentOf(s, 'provision-pilots');
    expect(variables.GLUON_STAGE).toBe('cloudspot');
    const templates = s.stack.resolve(variables.GLUON_LAUNCH_TEMPLATES);
    const rendered = render(templates);
    const ids = Object.fromEntries(
      ofType(s.resources, 'AWS::EC2::LaunchTemplate').map(([id, t]) => [
        cdkPath(t).includes('aarch64') ? 'aarch64' : 'x86_64',
        id,
      ]),
    );
    expect(rendered).toContain(
      `{"x86_64":{"id":"<${ids.x86_64}>","version":"<${ids.x86_64}.LatestVersionNumber>"}`,
    );
    expect(rendered).toContain(
      `"aarch64":{"id":"<${ids.aarch64}>","version":"<${ids.aarch64}.LatestVersionNumber>"}}`,
    );
    const [queueId] = byPath(s, 'Provisioning/BatchJobQueue');
    expect(render(variables.GLUON_BATCH_JOB_QUEUES)).toBe(
      `arn:<AWS::Partition>:batch:<AWS::Region>:<AWS::AccountId>:job-queue/site-queue-a,${EXTERNAL_QUEUE},<${queueId}.JobQueueArn>`,
    );
    for (const other of ['reap-pilots', 'site-demand']) {
      expect(environmentOf(s, other).GLUON_LAUNCH_TEMPLATES, other).toBeUndefined();
    }
    const [functionId] = byPath(s, 'Functions/provision-pilots/Function');
    const schedule = ofType(s.resources, 'AWS::Scheduler::Schedule').find(
      ([, r]) => render((propsOf(r).Target as { Arn: unknown }).Arn) === `<${functionId}.Arn>`,
    );
    expect(schedule).toBeDefined();
    expect(propsOf((schedule as [string, CfnResource])[1]).ScheduleExpression).toBe('rate(1 minute)');
  });

  describe('AWS Batch', () => {
    it('has a managed Spot compute environment in the stage subnets, and a job queue on it', () => {
      const [ceId, ce] = byPath(s, 'Provisioning/BatchComputeEnvironment');
      const props = propsOf(ce);
      expect(props.Type).toBe('MANAGED');
      const compute = props.ComputeResources as Record<string, unknown>;
      expect(compute.Type).toBe('SPOT');
      expect(compute.MaxvCpus).toBe(256);
      expect(compute.MinvCpus).toBe(0);
      expect(compute.Subnets).toEqual(SUBNETS);
      expect(compute.SecurityGroupIds).toEqual(SECURITY_GROUPS.slice(0, 1));
      expect(compute.InstanceTypes).toEqual(['c6i', 'm6i.large']);
      expect(compute.AllocationStrategy).toBe('SPOT_PRICE_CAPACITY_OPTIMIZED');
      const [, queue] = byPath(s, 'Provisioning/BatchJobQueue');
      const order = propsOf(queue).ComputeEnvironmentOrder as Array<{ ComputeEnvironment: unknown }>;
      expect(order.map((o) => render(o.ComputeEnvironment))).toEqual([`<${ceId}.ComputeEnvironmentArn>`]);
    });

    it("runs the pilot container with a job role of the pilot's statements and the boot reads", () => {
      const [, definition] = byPath(s, 'Provisioning/BatchJobDefinition');
      const container = propsOf(definition).ContainerProperties as Record<string, unknown>;
      const [jobRoleId, jobRole] = byPath(s, 'Provisioning/BatchJobRole');
      expect(render(container.JobRoleArn)).toBe(`<${jobRoleId}.Arn>`);
      const command = (container.Command as unknown[]).map(render);
      expect(command.slice(0, 2)).toEqual(['bash', '-c']);
      expect(command[2]).toContain('exec "$NODE" "$PILOT" run --cloud batch');
      expect(container.Environment).toEqual([
        { Name: 'GLUON_CORES', Value: '1' },
        { Name: 'GLUON_MEMORY_MB', Value: '2048' },
      ]);
      const trust = propsOf(jobRole).AssumeRolePolicyDocument as { Statement: Statement[] };
      expect(trust.Statement.map((st) => st.Principal)).toEqual([{ Service: 'ecs-tasks.amazonaws.com' }]);
      const [instanceRoleId] = byPath(s, 'Provisioning/InstanceRole');
      expect(normalised(statementsOfRole(s, jobRoleId))).toEqual(
        normalised(statementsOfRole(s, instanceRoleId)),
      );
    });
  });

  it('passes cdk-nag AwsSolutions', () => {
    expect(nagFindings(s.app)).toEqual([]);
  });
});

describe('a stage whose Batch compute environment is Fargate', () => {
  let s: Synth;
  beforeAll(() => {
    s = synth(cloudStage('FARGATE'));
  }, 120_000);

  it('has a Fargate compute environment, a Fargate job definition with an execution role, and no container instance role', () => {
    const [, ce] = byPath(s, 'Provisioning/BatchComputeEnvironment');
    const compute = propsOf(ce).ComputeResources as Record<string, unknown>;
    expect(compute.Type).toBe('FARGATE');
    expect(compute.InstanceRole).toBeUndefined();
    const [, definition] = byPath(s, 'Provisioning/BatchJobDefinition');
    expect(propsOf(definition).PlatformCapabilities).toEqual(['FARGATE']);
    const container = propsOf(definition).ContainerProperties as Record<string, unknown>;
    const [executionRoleId] = byPath(s, 'Provisioning/BatchExecutionRole');
    expect(render(container.ExecutionRoleArn)).toBe(`<${executionRoleId}.Arn>`);
    const executionStatements = statementsOfRole(s, executionRoleId);
    expect(executionStatements.flatMap(actions).every((a) => a.startsWith('logs:'))).toBe(true);
    expect(Object.values(s.resources).some((r) => cdkPath(r).includes('BatchInstanceRole'))).toBe(false);
  });

  it('passes cdk-nag AwsSolutions', () => {
    expect(nagFindings(s.app)).toEqual([]);
  });
});

describe('a stage without cloud settings', () => {
  let s: Synth;
  beforeAll(() => {
    const { cloud: _cloud, ...noCloud } = stageConfig('dev');
    s = synth({ ...noCloud, name: 'nocloud' });
  }, 120_000);

  it('has no launch template, no instance role and no Batch resources', () => {
    expect(ofType(s.resources, 'AWS::EC2::LaunchTemplate')).toEqual([]);
    expect(ofType(s.resources, 'AWS::IAM::InstanceProfile')).toEqual([]);
    expect(Object.keys(s.resources).filter((id) => s.resources[id]?.Type.startsWith('AWS::Batch::'))).toEqual(
      [],
    );
  });

  it('gives the provisioner an empty environment and no EC2, IAM or Batch permission', () => {
    const variables = environmentOf(s, 'provision-pilots');
    expect(variables.GLUON_STAGE).toBe('nocloud');
    expect(variables.GLUON_LAUNCH_TEMPLATES).toBe('{}');
    expect(variables.GLUON_BATCH_JOB_QUEUES).toBe('');
    const services = statementsOfRole(s, provisionerRoleId(s))
      .flatMap(actions)
      .map((a) => a.split(':')[0]);
    expect(services.filter((x) => x === 'ec2' || x === 'iam' || x === 'batch')).toEqual([]);
  });
});

describe('cloud stage settings', () => {
  it('refuses bad cloud settings, naming each field', () => {
    const bad = {
      pilotTokenParameter: 'gluon/no-slash',
      vpcSubnets: ['subnet-xyz'],
      securityGroupIds: ['sg-1'],
      batchJobQueues: ['bad queue'],
      batch: {
        computeEnvironment: {
          type: 'FARGATE',
          maxvCpus: 0,
          subnets: [],
          securityGroupIds: ['sg-0123456789abcdef0'],
        },
      },
    };
    expect(() => parseStage({ ...STAGES.dev, cloud: bad })).toThrow(
      new RegExp(
        [
          'cloud\\.pilotTokenParameter: ',
          'cloud\\.securityGroupIds\\.0: a security group id',
          'cloud\\.vpcSubnets\\.0: a subnet id',
          'cloud\\.batchJobQueues\\.0: a job queue name',
          'cloud\\.batch\\.computeEnvironment\\.maxvCpus: ',
          'cloud\\.batch\\.computeEnvironment\\.subnets: at least one subnet',
        ].join('.*'),
      ),
    );
  });

  it('refuses instance types for Fargate, and allowed job queues without job definitions', () => {
    const base = { ...STAGES.dev, cloud: { pilotTokenParameter: '/gluon/x' } };
    expect(() =>
      parseStage({
        ...base,
        cloud: {
          ...base.cloud,
          batch: {
            computeEnvironment: {
              type: 'FARGATE_SPOT',
              maxvCpus: 4,
              subnets: SUBNETS,
              securityGroupIds: SECURITY_GROUPS,
              instanceTypes: ['c6i'],
            },
          },
        },
      }),
    ).toThrow(
      /cloud\.batch\.computeEnvironment\.instanceTypes: Fargate compute environments take no instance types/,
    );
    expect(() => parseStage({ ...base, cloud: { ...base.cloud, batchJobQueues: ['q'] } })).toThrow(
      /cloud\.batchJobDefinitions: name the job definitions/,
    );
    expect(parseStage(base).cloud).toMatchObject({
      rootVolumeGiB: 100,
      batchJobQueues: [],
      batchJobDefinitions: [],
    });
  });
});

describe('the pilot asset', () => {
  it('is the single-file pilot, bundled at synth: one CommonJS file that runs as gluon-pilot', () => {
    const outdir = mkdtempSync(join(tmpdir(), 'gluon-pilot-asset-'));
    try {
      const app = new App({ outdir });
      const asset = pilotBundleAsset(new Stack(app, 'probe'), PROJECT_ROOT);
      expect(asset.isFile).toBe(true);
      expect(asset.s3ObjectKey).toMatch(/\.cjs$/);
      const file = join(outdir, asset.assetPath);
      expect(statSync(file).size).toBeGreaterThan(100_000);
      const help = execFileSync(process.execPath, [file, '--help'], { encoding: 'utf8' });
      expect(help).toContain('Usage: gluon-pilot');
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });
});
