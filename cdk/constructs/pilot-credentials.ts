import { CfnOutput, Duration, Stack } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { AccountPrincipal, type IRole, PolicyStatement, Role } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { acknowledge, logicalIdOf } from '../nag.ts';
import type { JobDispatch } from './job-dispatch.ts';
import type { Storage } from './storage.ts';

export interface PilotCredentialsProps {
  /** Account whose principals may assume the role; default: the account the stack is deployed in. */
  accountId?: string;
  /** Required on AssumeRole (confused-deputy guard for factories acting for several sites). */
  externalId: string;
  jobDispatch: JobDispatch;
  storage: Storage;
  /** The pilot leases: a pilot renews its own lease there (the vended session narrows it to its key). */
  leaseTable: ITable;
  /** Storage endpoints' buckets (the stage's `catalog.dataBuckets`): pilots stage catalog files in from them. */
  dataBuckets?: readonly string[];
}

/**
 * Session tags the vending functions may set when they assume the role (StsCredentialVendor tags
 * each session with the pilot's site). Anything else is refused by the trust policy.
 */
export const PILOT_SESSION_TAG_KEYS = ['gluon:site'] as const;

/**
 * The role pilots get their credentials from: take job messages from the site queues and range
 * messages from the range queues, read sandboxes, input files and range outputs, write task
 * outputs — nothing else. Sessions last at most one hour. Two ways in:
 * - the vending functions (register-pilot, renew-pilot-credentials; `grantVend`) assume it for a
 *   pilot with a session policy narrowed to that pilot's site queue, and hand the credentials over;
 * - an account principal with an external id (a pilot factory acting for pilots); a site-specific
 *   principal (OIDC, IAM Roles Anywhere) can replace it without touching the permissions.
 */
export class PilotCredentials extends Construct {
  readonly role: Role;
  private readonly props: PilotCredentialsProps;
  /** The trust statement for the vending functions' roles, made by the first `grantVend`. */
  private vendingTrust: PolicyStatement | undefined;

  constructor(scope: Construct, id: string, props: PilotCredentialsProps) {
    super(scope, id);
    this.role = new Role(this, 'Role', {
      assumedBy: new AccountPrincipal(props.accountId ?? Stack.of(this).account),
      externalIds: [props.externalId],
      maxSessionDuration: Duration.hours(1),
      description:
        'Gluon pilots: consume site and range queues, renew their lease, read sandboxes, inputs and task outputs, write task outputs',
    });
    this.props = props;
    this.grantPilot(this.role);
    new CfnOutput(this, 'RoleArn', {
      value: this.role.roleArn,
      description: 'Role pilots assume (with the external id)',
    });
  }

  /**
   * The pilot's permissions, onto `role` (this construct's role, and the cloud instance and job
   * roles of cdk/constructs/provisioning.ts: one source), with the cdk-nag acknowledgements of
   * their name patterns on that role.
   */
  grantPilot(role: Role): void {
    this.props.jobDispatch.grantConsume(role);
    this.props.jobDispatch.grantConsumeRanges(role);
    this.props.storage.grantPilotObjects(role);
    // The heartbeat. The role allows UpdateItem on the lease table; each vended session is narrowed
    // to the pilot's own item (dynamodb:LeadingKeys, StsCredentialVendor's session policy).
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'RenewOwnLease',
        actions: ['dynamodb:UpdateItem'],
        resources: [this.props.leaseTable.tableArn],
      }),
    );
    const dataBuckets = this.props.dataBuckets ?? [];
    if (dataBuckets.length > 0) {
      // Catalog files' replicas at the storage endpoints: read at stage-in (each vended session
      // is narrowed to the same buckets' endpoint locations, GLUON_PILOT_DATA_LOCATIONS).
      role.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'ReadEndpointReplicas',
          actions: ['s3:GetObject'],
          resources: dataBuckets.map((bucket) => `arn:${Stack.of(this).partition}:s3:::${bucket}/*`),
        }),
      );
      for (const bucket of dataBuckets) {
        acknowledge(
          role,
          `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::${bucket}/*]`,
          `Pilots stage in catalog files from storage endpoint bucket ${bucket} (stage catalog.dataBuckets), under keys known only at run time.`,
        );
      }
    }
    const bucketId = logicalIdOf(this.props.storage.bucket);
    acknowledge(
      role,
      `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sqs:<AWS::Region>:<AWS::AccountId>:${this.props.jobDispatch.queuePrefix}site-*]`,
      "Site queues are created at run time per site, so pilots get this stack's site queue name pattern (DLQs are denied).",
    );
    acknowledge(
      role,
      `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sqs:<AWS::Region>:<AWS::AccountId>:${this.props.jobDispatch.queuePrefix}ranges-*]`,
      "Range queues are created at run time per event-service task, so consumers get this stack's range queue name pattern (DLQs are denied).",
    );
    acknowledge(
      role,
      `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/sandboxes/*]`,
      'Pilots stage in the sandboxes of the jobs they run; sandbox keys are random per upload.',
    );
    acknowledge(
      role,
      `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/inputs/*]`,
      'Pilots stage in the input files of processing tasks (inputs/… keys named in the task spec), known only at run time.',
    );
    acknowledge(
      role,
      `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/tasks/*]`,
      'Pilots stage out job outputs under tasks/<taskId>/…, and merge jobs read range outputs there; the task id is only known at run time.',
    );
  }

  /**
   * Lets a function's role vend pilot credentials: its identity policy may assume this role (and
   * tag the session), and this role's trust policy names that function role — both are needed, as
   * the call carries no external id. The function learns the ARN from GLUON_PILOT_ROLE_ARN (set by
   * the Functions construct). No cycle: the trust policy refers to the function role, and only the
   * function role's separate default policy and the function refer back to this role.
   */
  grantVend(functionRole: IRole): void {
    if (this.vendingTrust === undefined) {
      this.vendingTrust = new PolicyStatement({
        sid: 'VendingFunctions',
        actions: ['sts:AssumeRole', 'sts:TagSession'],
        conditions: { 'ForAllValues:StringEquals': { 'aws:TagKeys': [...PILOT_SESSION_TAG_KEYS] } },
      });
      this.role.assumeRolePolicy?.addStatements(this.vendingTrust);
    }
    this.vendingTrust.addPrincipals(functionRole);
    functionRole.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'VendPilotCredentials',
        actions: ['sts:AssumeRole', 'sts:TagSession'],
        resources: [this.role.roleArn],
      }),
    );
  }
}
