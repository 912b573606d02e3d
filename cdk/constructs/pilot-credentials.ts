import { CfnOutput, Duration, Stack } from 'aws-cdk-lib';
import { AccountPrincipal, Role } from 'aws-cdk-lib/aws-iam';
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
}

/**
 * The role pilots (or the pilot factory for them) assume: take job messages from the site queues,
 * read sandboxes, write task outputs — nothing else. Sessions last at most one hour. The trust is an
 * account principal with an external id for now; a site-specific principal (OIDC, IAM Roles
 * Anywhere) can replace it without touching the permissions.
 */
export class PilotCredentials extends Construct {
  readonly role: Role;

  constructor(scope: Construct, id: string, props: PilotCredentialsProps) {
    super(scope, id);
    this.role = new Role(this, 'Role', {
      assumedBy: new AccountPrincipal(props.accountId ?? Stack.of(this).account),
      externalIds: [props.externalId],
      maxSessionDuration: Duration.hours(1),
      description: 'Gluon pilots: consume site queues, read sandboxes, write task outputs',
    });
    props.jobDispatch.grantConsume(this.role);
    props.storage.grantPilotObjects(this.role);
    const bucketId = logicalIdOf(props.storage.bucket);
    acknowledge(
      this.role,
      `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sqs:<AWS::Region>:<AWS::AccountId>:${props.jobDispatch.queuePrefix}site-*]`,
      "Site queues are created at run time per site, so pilots get this stack's site queue name pattern (DLQs are denied).",
    );
    acknowledge(
      this.role,
      `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/sandboxes/*]`,
      'Pilots stage in the sandboxes of the jobs they run; sandbox keys are random per upload.',
    );
    acknowledge(
      this.role,
      `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/tasks/*]`,
      'Pilots stage out job outputs under tasks/<taskId>/…; the task id is only known at run time.',
    );
    new CfnOutput(this, 'RoleArn', {
      value: this.role.roleArn,
      description: 'Role pilots assume (with the external id)',
    });
  }
}
