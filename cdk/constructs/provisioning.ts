import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import {
  ArnFormat,
  AssetHashType,
  Aws,
  BundlingOutput,
  CfnOutput,
  DockerImage,
  type RemovalPolicy,
  Stack,
} from 'aws-cdk-lib';
import { CfnComputeEnvironment, CfnJobDefinition, CfnJobQueue } from 'aws-cdk-lib/aws-batch';
import {
  AmazonLinuxCpuType,
  BlockDeviceVolume,
  EbsDeviceVolumeType,
  InstanceInitiatedShutdownBehavior,
  LaunchTemplate,
  LaunchTemplateHttpTokens,
  MachineImage,
  SecurityGroup,
  UserData,
} from 'aws-cdk-lib/aws-ec2';
import { InstanceProfile, ManagedPolicy, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Asset } from 'aws-cdk-lib/aws-s3-assets';
import { Construct } from 'constructs';
import { CLOUD_TAGS } from '#core/provisioning/tags.ts';
import { batchPilotScript, cloudUserData, type PilotObject } from '#core/provisioning/user-data.ts';
import { acknowledge } from '../nag.ts';
import type { CloudSettings, Stage } from '../stages.ts';
import type { GluonFunction } from './gluon-function.ts';
import type { PilotCredentials } from './pilot-credentials.ts';

/** The architectures a cloud site's slots may have (core/sites/site-id.ts ArchSchema), each with its launch template. */
export const CLOUD_ARCHS = ['x86_64', 'aarch64'] as const;
export type CloudArch = (typeof CLOUD_ARCHS)[number];

const CPU_TYPE: Record<CloudArch, AmazonLinuxCpuType> = {
  x86_64: AmazonLinuxCpuType.X86_64,
  aarch64: AmazonLinuxCpuType.ARM_64,
};

export interface ProvisioningProps {
  stage: Stage;
  projectRoot: string;
  /** The pilot's permissions (one source): the instance and job roles get the same statements. */
  pilotCredentials: PilotCredentials;
  /** The API the pilots talk to (GLUON_API_URL of the instances and jobs). */
  apiUrl: string;
  logRetention: RetentionDays;
  removalPolicy: RemovalPolicy;
}

/** The stack's own AWS Batch resources (stage `cloud.batch`). */
export interface PilotBatch {
  computeEnvironment: CfnComputeEnvironment;
  jobQueue: CfnJobQueue;
  jobDefinition: CfnJobDefinition;
  /** The role the pilot containers run with: the pilot's permissions and the boot reads. */
  jobRole: Role;
}

/**
 * Cloud sites' capacity (core/provisioning/): what the scheduled `provision-pilots` function starts
 * pilots with, and what it may do.
 * - EC2: one launch template per architecture (AL2023, IMDSv2 required, instance metadata tags,
 *   shutdown behaviour terminate, encrypted root volume, the boot script of
 *   core/provisioning/user-data.ts) with an instance profile whose role has the pilot's
 *   permissions (PilotCredentials.grantPilot) and the two reads it needs to boot: the single-file
 *   pilot (an S3 asset of the bundle) and the pilot token parameter.
 * - AWS Batch (stage `cloud.batch`): a managed compute environment, a job queue and a job
 *   definition whose container runs the pilot with a job role of the same permissions.
 * - `grantProvision`: the provisioner's IAM (launch only with these templates and the stage tag,
 *   pass only the instance role, submit only to the stage's job queues) and its environment.
 * Without a stage `cloud` section there is no template and no queue: the provisioner gets its
 * environment (empty) and no EC2 or Batch permission, and records an error for any cloud site.
 */
export class Provisioning extends Construct {
  readonly instanceRole: Role | undefined;
  readonly launchTemplates: ReadonlyMap<CloudArch, LaunchTemplate>;
  readonly batch: PilotBatch | undefined;
  /** The single-file pilot the instances and jobs download. */
  readonly pilotAsset: Asset | undefined;
  private readonly stage: Stage;

  constructor(scope: Construct, id: string, props: ProvisioningProps) {
    super(scope, id);
    this.stage = props.stage;
    const cloud = props.stage.cloud;
    const launchTemplates = new Map<CloudArch, LaunchTemplate>();
    this.launchTemplates = launchTemplates;
    if (cloud === undefined) {
      this.instanceRole = undefined;
      this.batch = undefined;
      this.pilotAsset = undefined;
      return;
    }

    this.pilotAsset = pilotBundleAsset(this, props.projectRoot);
    const pilotObject: PilotObject = {
      bucket: this.pilotAsset.s3BucketName,
      key: this.pilotAsset.s3ObjectKey,
    };
    const region = Stack.of(this).region;

    this.instanceRole = new Role(this, 'InstanceRole', {
      assumedBy: new ServicePrincipal('ec2.amazonaws.com'),
      description:
        "Gluon cloud instances: the pilot's permissions, and reading the pilot and its token at boot",
    });
    this.grantPilotHost(this.instanceRole, props.pilotCredentials, cloud);
    const instanceProfile = new InstanceProfile(this, 'InstanceProfile', { role: this.instanceRole });

    const userData = cloudUserData({
      region,
      apiUrl: props.apiUrl,
      pilotObject,
      tokenParameter: cloud.pilotTokenParameter,
    });
    const securityGroups = (cloud.securityGroupIds ?? []).map((sg, i) =>
      SecurityGroup.fromSecurityGroupId(this, `SecurityGroup${i}`, sg, { mutable: false }),
    );
    for (const arch of CLOUD_ARCHS) {
      const template = new LaunchTemplate(this, `LaunchTemplate-${arch}`, {
        machineImage: MachineImage.latestAmazonLinux2023({ cpuType: CPU_TYPE[arch] }),
        userData: UserData.custom(userData),
        instanceProfile,
        // IMDSv2 only; one hop, so a container on the instance cannot reach the instance role.
        requireImdsv2: true,
        httpTokens: LaunchTemplateHttpTokens.REQUIRED,
        httpPutResponseHopLimit: 1,
        // `gluon-pilot cloud` reads the site, slot and idle time from the instance's tags.
        instanceMetadataTags: true,
        // The boot script ends with `shutdown -h now` when the pilots have exited: that ends the instance.
        instanceInitiatedShutdownBehavior: InstanceInitiatedShutdownBehavior.TERMINATE,
        blockDevices: [
          {
            deviceName: '/dev/xvda',
            volume: BlockDeviceVolume.ebs(cloud.rootVolumeGiB, {
              encrypted: true,
              volumeType: EbsDeviceVolumeType.GP3,
              deleteOnTermination: true,
            }),
          },
        ],
        ...(securityGroups[0] === undefined ? {} : { securityGroup: securityGroups[0] }),
      });
      for (const sg of securityGroups.slice(1)) template.addSecurityGroup(sg);
      launchTemplates.set(arch, template);
      new CfnOutput(this, `LaunchTemplateId-${arch}`, {
        value: template.launchTemplateId as string,
        description: `Launch template of ${arch} cloud instances`,
      });
    }

    this.batch =
      cloud.batch === undefined
        ? undefined
        : this.pilotBatch(cloud, props, {
            region,
            apiUrl: props.apiUrl,
            pilotObject,
            tokenParameter: cloud.pilotTokenParameter,
          });
  }

  /**
   * What a pilot host (instance or Batch job) may do: the pilot's statements (one source:
   * PilotCredentials.grantPilot) and the boot reads — the pilot object and the token parameter.
   */
  private grantPilotHost(role: Role, pilotCredentials: PilotCredentials, cloud: CloudSettings): void {
    pilotCredentials.grantPilot(role);
    const asset = this.pilotAsset as Asset;
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'BootReadPilot',
        actions: ['s3:GetObject'],
        resources: [`arn:${Aws.PARTITION}:s3:::${asset.s3BucketName}/${asset.s3ObjectKey}`],
      }),
    );
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'BootReadPilotToken',
        actions: ['ssm:GetParameter'],
        resources: [tokenParameterArn(this, cloud.pilotTokenParameter)],
      }),
    );
  }

  /** The stack's compute environment, job queue and job definition (stage `cloud.batch`). */
  private pilotBatch(
    cloud: CloudSettings,
    props: ProvisioningProps,
    boot: Parameters<typeof batchPilotScript>[0],
  ): PilotBatch {
    const settings = cloud.batch as NonNullable<CloudSettings['batch']>;
    const ce = settings.computeEnvironment;
    const fargate = ce.type === 'FARGATE' || ce.type === 'FARGATE_SPOT';

    const jobRole = new Role(this, 'BatchJobRole', {
      assumedBy: new ServicePrincipal('ecs-tasks.amazonaws.com').withConditions({
        StringEquals: { 'aws:SourceAccount': Stack.of(this).account },
      }),
      description:
        "Gluon pilot jobs on AWS Batch: the pilot's permissions, and reading the pilot and its token",
    });
    this.grantPilotHost(jobRole, props.pilotCredentials, cloud);

    let instanceProfileArn: string | undefined;
    if (!fargate) {
      // The ECS container instances of an EC2 or Spot compute environment (not the pilots: they
      // run with the job role).
      const ecsInstanceRole = new Role(this, 'BatchInstanceRole', {
        assumedBy: new ServicePrincipal('ec2.amazonaws.com'),
        description: 'Gluon AWS Batch container instances (ECS agent)',
        managedPolicies: [
          ManagedPolicy.fromAwsManagedPolicyName('service-role/AmazonEC2ContainerServiceforEC2Role'),
        ],
      });
      acknowledge(
        ecsInstanceRole,
        'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role]',
        'The AWS-managed policy AWS Batch documents for the ECS agent on container instances (register, pull images, send logs); the pilots run with their own job role.',
      );
      instanceProfileArn = new InstanceProfile(this, 'BatchInstanceProfile', { role: ecsInstanceRole })
        .instanceProfileArn;
    }

    const computeEnvironment = new CfnComputeEnvironment(this, 'BatchComputeEnvironment', {
      type: 'MANAGED',
      state: 'ENABLED',
      // No serviceRole: AWS Batch uses its service-linked role (README, one-time steps).
      computeResources: {
        type: ce.type,
        maxvCpus: ce.maxvCpus,
        subnets: ce.subnets,
        securityGroupIds: ce.securityGroupIds,
        ...(fargate
          ? {}
          : {
              minvCpus: 0,
              instanceTypes: ce.instanceTypes ?? ['optimal'],
              instanceRole: instanceProfileArn,
              allocationStrategy:
                ce.type === 'SPOT' ? 'SPOT_PRICE_CAPACITY_OPTIMIZED' : 'BEST_FIT_PROGRESSIVE',
              ec2Configuration: [{ imageType: 'ECS_AL2023' }],
            }),
      },
    });
    const jobQueue = new CfnJobQueue(this, 'BatchJobQueue', {
      priority: 1,
      state: 'ENABLED',
      computeEnvironmentOrder: [
        { order: 1, computeEnvironment: computeEnvironment.attrComputeEnvironmentArn },
      ],
    });

    const logGroup = new LogGroup(this, 'BatchJobLogs', {
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });
    let executionRoleArn: string | undefined;
    if (fargate) {
      // Fargate starts the container with this role: writing its log stream (the image is public).
      const executionRole = new Role(this, 'BatchExecutionRole', {
        assumedBy: new ServicePrincipal('ecs-tasks.amazonaws.com').withConditions({
          StringEquals: { 'aws:SourceAccount': Stack.of(this).account },
        }),
        description: 'Gluon pilot jobs on Fargate: start the container and write its logs',
      });
      logGroup.grantWrite(executionRole);
      executionRoleArn = executionRole.roleArn;
    } else {
      // The ECS agent writes the container's logs with the container instance's role.
      acknowledge(
        this,
        'AwsSolutions-IAM5[Resource::*]',
        'The AWS-managed ECS container instance policy grants its agent actions on *, as AWS documents it for AWS Batch container instances.',
      );
    }

    const jobDefinition = new CfnJobDefinition(this, 'BatchJobDefinition', {
      type: 'container',
      platformCapabilities: [fargate ? 'FARGATE' : 'EC2'],
      propagateTags: true,
      retryStrategy: { attempts: 1 },
      containerProperties: {
        image: settings.image,
        command: ['bash', '-c', batchPilotScript(boot)],
        jobRoleArn: jobRole.roleArn,
        // What one pilot offers, by default the job's size (a submit's environment overrides it).
        environment: [
          { name: 'GLUON_CORES', value: String(Math.max(1, Math.floor(settings.jobVcpus))) },
          { name: 'GLUON_MEMORY_MB', value: String(settings.jobMemoryMiB) },
        ],
        ...(executionRoleArn === undefined ? {} : { executionRoleArn }),
        resourceRequirements: [
          { type: 'VCPU', value: String(settings.jobVcpus) },
          { type: 'MEMORY', value: String(settings.jobMemoryMiB) },
        ],
        logConfiguration: { logDriver: 'awslogs', options: { 'awslogs-group': logGroup.logGroupName } },
        ...(fargate
          ? {
              fargatePlatformConfiguration: { platformVersion: 'LATEST' },
              networkConfiguration: { assignPublicIp: settings.assignPublicIp ? 'ENABLED' : 'DISABLED' },
              runtimePlatform: { cpuArchitecture: 'X86_64', operatingSystemFamily: 'LINUX' },
            }
          : {}),
      },
    });
    new CfnOutput(this, 'BatchJobQueueArn', {
      value: jobQueue.attrJobQueueArn,
      description: "The stack's AWS Batch job queue (a batch site's provisioning.jobQueue)",
    });
    new CfnOutput(this, 'BatchJobDefinitionArn', {
      value: jobDefinition.attrJobDefinitionArn,
      description: "The stack's pilot job definition (a batch site's provisioning.jobDefinition)",
    });
    return { computeEnvironment, jobQueue, jobDefinition, jobRole };
  }

  /** The job queues the provisioner may submit to: the stage's, and the stack's own. */
  jobQueueArns(): string[] {
    const configured = (this.stage.cloud?.batchJobQueues ?? []).map((q) => jobQueueArn(this, q));
    return this.batch === undefined ? configured : [...configured, this.batch.jobQueue.attrJobQueueArn];
  }

  /** The job definitions those queues' pilot jobs may use: the stage's (any revision), and the stack's own. */
  jobDefinitionArns(): string[] {
    const configured = (this.stage.cloud?.batchJobDefinitions ?? []).flatMap((name) => {
      const arn = Stack.of(this).formatArn({
        service: 'batch',
        resource: 'job-definition',
        resourceName: name,
      });
      return [arn, `${arn}:*`];
    });
    return this.batch === undefined
      ? configured
      : [...configured, this.batch.jobDefinition.attrJobDefinitionArn];
  }

  /**
   * The provisioner: its environment (GLUON_STAGE, GLUON_LAUNCH_TEMPLATES, GLUON_BATCH_JOB_QUEUES)
   * and its IAM.
   * - ec2:CreateFleet / ec2:RunInstances only with this stack's launch templates (the templates
   *   themselves, and every other resource of the launch under the `ec2:LaunchTemplate` condition),
   *   instances and volumes only with the stage tag (`aws:RequestTag/gluon:stage`);
   * - ec2:CreateTags only as part of CreateFleet or RunInstances (`ec2:CreateAction`);
   * - iam:PassRole of the instance role only, to EC2 only (`iam:PassedToService`);
   * - ec2:DescribeInstances and ec2:DescribeSpotPriceHistory: EC2 has no resource-level
   *   permission for Describe actions, so `*`, in the stack's region only (`ec2:Region`);
   * - batch:SubmitJob on the allowed job queues and their job definitions; batch:TagResource on
   *   jobs, with the stage tag; batch:ListJobs (no resource-level permission: `*`).
   * No iam:CreateServiceLinkedRole: the Spot service-linked role is an operator's one-time step
   * (README, Deploy), so the function cannot create roles.
   */
  grantProvision(fn: GluonFunction): void {
    const stack = Stack.of(this);
    const templates = [...this.launchTemplates.entries()];
    fn.function.addEnvironment('GLUON_STAGE', this.stage.name);
    fn.function.addEnvironment(
      'GLUON_LAUNCH_TEMPLATES',
      stack.toJsonString(
        Object.fromEntries(
          templates.map(([arch, t]) => [arch, { id: t.launchTemplateId, version: t.latestVersionNumber }]),
        ),
      ),
    );
    const queues = this.jobQueueArns();
    fn.function.addEnvironment('GLUON_BATCH_JOB_QUEUES', queues.join(','));
    const role = fn.role;
    const ec2Arn = (resource: string, resourceName: string, account?: string) =>
      stack.formatArn({
        service: 'ec2',
        resource,
        resourceName,
        ...(account === undefined ? {} : { account }),
      });

    if (templates.length > 0 && this.instanceRole !== undefined) {
      const cloud = this.stage.cloud as CloudSettings;
      const templateArns = templates.map(([, t]) => ec2Arn('launch-template', t.launchTemplateId as string));
      const fromTemplates = { ArnLike: { 'ec2:LaunchTemplate': templateArns } };
      const launch = ['ec2:CreateFleet', 'ec2:RunInstances'];
      role.addToPrincipalPolicy(
        new PolicyStatement({ sid: 'LaunchStackTemplates', actions: launch, resources: templateArns }),
      );
      role.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'LaunchStageTaggedInstances',
          actions: launch,
          resources: [ec2Arn('instance', '*'), ec2Arn('volume', '*')],
          conditions: {
            ...fromTemplates,
            StringEquals: { [`aws:RequestTag/${CLOUD_TAGS.stage}`]: this.stage.name },
          },
        }),
      );
      role.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'LaunchWithStackTemplates',
          actions: launch,
          resources: [
            ec2Arn('network-interface', '*'),
            ec2Arn('spot-instances-request', '*'),
            // AMIs are owned by Amazon: no account in their ARN.
            ec2Arn('image', '*', ''),
            ...(cloud.vpcSubnets ?? ['*']).map((s) => ec2Arn('subnet', s)),
            ...(cloud.securityGroupIds ?? ['*']).map((sg) => ec2Arn('security-group', sg)),
          ],
          conditions: fromTemplates,
        }),
      );
      // The fleet itself (an instant fleet launches nothing without the statements above).
      role.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'CreateInstantFleets',
          actions: ['ec2:CreateFleet'],
          resources: [ec2Arn('fleet', '*')],
        }),
      );
      role.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'TagAtLaunch',
          actions: ['ec2:CreateTags'],
          resources: [
            ec2Arn('instance', '*'),
            ec2Arn('volume', '*'),
            ec2Arn('fleet', '*'),
            ec2Arn('spot-instances-request', '*'),
            ec2Arn('network-interface', '*'),
          ],
          conditions: { StringEquals: { 'ec2:CreateAction': ['CreateFleet', 'RunInstances'] } },
        }),
      );
      role.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'PassInstanceRole',
          actions: ['iam:PassRole'],
          resources: [this.instanceRole.roleArn],
          conditions: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
        }),
      );
      role.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'DescribeCloudCapacity',
          // EC2 has no resource-level permissions for Describe actions: `*`, this region only.
          actions: ['ec2:DescribeInstances', 'ec2:DescribeSpotPriceHistory'],
          resources: ['*'],
          conditions: { StringEquals: { 'ec2:Region': Aws.REGION } },
        }),
      );
      const wildcards: Array<[string, string]> = [
        [
          'instance/*',
          'Instances get their ids at launch: launching is allowed only with the stage tag and from the stack launch templates (ec2:LaunchTemplate).',
        ],
        [
          'volume/*',
          'Root volumes get their ids at launch: allowed only with the stage tag and from the stack launch templates (ec2:LaunchTemplate).',
        ],
        [
          'network-interface/*',
          'Network interfaces are made by the launch: allowed only from the stack launch templates (ec2:LaunchTemplate condition).',
        ],
        [
          'spot-instances-request/*',
          'Spot requests are made by the launch: allowed only from the stack launch templates (ec2:LaunchTemplate condition).',
        ],
        [
          'fleet/*',
          'Instant fleets get their ids when created; a fleet starts instances only through the launch template-bound statements.',
        ],
      ];
      for (const [resource, reason] of wildcards) {
        acknowledge(
          role,
          `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:${resource}]`,
          reason,
        );
      }
      acknowledge(
        role,
        'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>::image/*]',
        'The AMI is the latest Amazon Linux 2023 (an SSM public parameter) of the launch templates; launching is allowed only from them (ec2:LaunchTemplate).',
      );
      if (cloud.vpcSubnets === undefined) {
        acknowledge(
          role,
          'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:subnet/*]',
          'Cloud sites name their subnets at run time (the stage sets no cloud.vpcSubnets); launching is allowed only from the stack launch templates.',
        );
      }
      if (cloud.securityGroupIds === undefined) {
        acknowledge(
          role,
          'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:security-group/*]',
          "Without stage security groups the instances get the VPC's default one; launching is allowed only from the stack launch templates.",
        );
      }
    }

    if (queues.length > 0) {
      role.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'SubmitPilotJobs',
          actions: ['batch:SubmitJob'],
          resources: [...queues, ...this.jobDefinitionArns()],
        }),
      );
      role.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'TagPilotJobs',
          actions: ['batch:TagResource'],
          resources: [stack.formatArn({ service: 'batch', resource: 'job', resourceName: '*' })],
          conditions: { StringEquals: { [`aws:RequestTag/${CLOUD_TAGS.stage}`]: this.stage.name } },
        }),
      );
      role.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'ListPilotJobs',
          // batch:ListJobs has no resource-level permission: `*`.
          actions: ['batch:ListJobs'],
          resources: ['*'],
        }),
      );
      acknowledge(
        role,
        'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:batch:<AWS::Region>:<AWS::AccountId>:job/*]',
        'Batch jobs get their ids when submitted; tagging them is allowed only with the stage tag, at submit.',
      );
      for (const name of this.stage.cloud?.batchJobDefinitions ?? []) {
        acknowledge(
          role,
          `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:batch:<AWS::Region>:<AWS::AccountId>:job-definition/${name}:*]`,
          `Any revision of the stage's job definition ${name} (cloud.batchJobDefinitions): a new revision needs no deploy.`,
        );
      }
    }
    if (templates.length > 0 || queues.length > 0) {
      acknowledge(
        role,
        'AwsSolutions-IAM5[Resource::*]',
        'ec2:DescribeInstances, ec2:DescribeSpotPriceHistory (limited to the region by ec2:Region) and batch:ListJobs have no resource-level permissions; X-Ray trace uploads neither.',
      );
    }
  }
}

/** The single-file pilot (pilot/build: one CommonJS file for Node 22) as an S3 asset, bundled with the local esbuild. */
export function pilotBundleAsset(scope: Construct, projectRoot: string): Asset {
  return new Asset(scope, 'PilotBundle', {
    path: projectRoot,
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      // Only if local bundling fails (it does not fall back silently: it throws).
      image: DockerImage.fromRegistry('public.ecr.aws/docker/library/node:22-slim'),
      outputType: BundlingOutput.SINGLE_FILE,
      local: {
        tryBundle(outputDir: string): boolean {
          // The pilot's own build script (cdk/ does not import pilot/): the same esbuild options
          // as `npm run build:pilot`, for this Node (the project's 22, as on the instances).
          execFileSync(
            process.execPath,
            [
              join(projectRoot, 'pilot', 'build', 'build-pilot.ts'),
              '--bundle-only',
              '--out',
              join(outputDir, 'gluon-pilot.cjs'),
            ],
            { cwd: projectRoot, stdio: ['ignore', 'ignore', 'inherit'] },
          );
          return true;
        },
      },
    },
  });
}

/** `/gluon/dev/pilot-token` → `arn:…:ssm:<region>:<account>:parameter/gluon/dev/pilot-token`. */
function tokenParameterArn(scope: Construct, name: string): string {
  return Stack.of(scope).formatArn({
    service: 'ssm',
    resource: 'parameter',
    resourceName: name.replace(/^\//, ''),
  });
}

/** A job queue named in the stage: an ARN as it is, a name as this account's and region's queue. */
function jobQueueArn(scope: Construct, queue: string): string {
  if (queue.startsWith('arn:')) return queue;
  return Stack.of(scope).formatArn({
    service: 'batch',
    resource: 'job-queue',
    resourceName: queue,
    arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
  });
}
