import { AssumeRoleCommand, type STSClient } from '@aws-sdk/client-sts';
import type { PilotCredentials } from '#core/api/pilots.ts';
import { TransientError } from '#core/errors.ts';
import { RESOURCE_CLASSES } from '#core/jobs/resource-class.ts';
import type { CredentialVendor } from '#core/pilots/ports.ts';
import { OBJECT_PREFIXES } from '#core/storage/object-keys.ts';
import { rethrowSdkError } from '../sdk-errors.ts';
import { queueNames } from '../sqs/sqs-job-queue.ts';
import { rangeQueueNames } from '../sqs/sqs-range-queue.ts';

/**
 * Short-lived credentials for one pilot: AssumeRole on the pilot role with a session policy that
 * narrows it to the pilot's own site queue, the range queues of event-service tasks, its own lease
 * (the one key it renews) and the S3 prefixes pilots use (stage-out under tasks/, stage-in of
 * sandboxes, inputs and range outputs). The role's own policy is the upper bound (CDK PilotCredentials).
 */
export class StsCredentialVendor implements CredentialVendor {
  private readonly client: STSClient;
  private readonly roleArn: string;
  private readonly durationSec: number;
  private readonly dataLocations: readonly string[];

  /**
   * `dataLocations`: the storage endpoints' `bucket/prefix` pilots stage catalog files in from
   * (GLUON_PILOT_DATA_LOCATIONS); the session may read under each. The role must allow it too.
   */
  constructor(client: STSClient, roleArn: string, durationSec = 3600, dataLocations: readonly string[] = []) {
    this.client = client;
    this.roleArn = roleArn;
    this.durationSec = durationSec;
    this.dataLocations = dataLocations;
  }

  async vend(scope: {
    pilotId: string;
    siteId: string;
    queueUrl: string;
    bucket: string;
    leaseTable: string;
  }): Promise<PilotCredentials> {
    try {
      const out = await this.client.send(
        new AssumeRoleCommand({
          RoleArn: this.roleArn,
          RoleSessionName: scope.pilotId.slice(0, 64),
          DurationSeconds: this.durationSec,
          Policy: JSON.stringify(sessionPolicy(scope, this.roleArn, this.dataLocations)),
          Tags: [{ Key: 'gluon:site', Value: scope.siteId }],
        }),
      );
      const c = out.Credentials;
      if (c?.AccessKeyId === undefined || c.SecretAccessKey === undefined || c.Expiration === undefined) {
        throw new TransientError('STS answered without credentials');
      }
      return {
        accessKeyId: c.AccessKeyId,
        secretAccessKey: c.SecretAccessKey,
        ...(c.SessionToken === undefined ? {} : { sessionToken: c.SessionToken }),
        expiration: c.Expiration.toISOString(),
      };
    } catch (error) {
      if (error instanceof TransientError) throw error;
      rethrowSdkError(error, 'vend pilot credentials');
    }
  }
}

/** What a consumer does with range messages: take, extend or hand back, delete, send back the rest. */
const RANGE_CONSUMER_ACTIONS = [
  'sqs:ReceiveMessage',
  'sqs:DeleteMessage',
  'sqs:ChangeMessageVisibility',
  'sqs:SendMessage',
  'sqs:GetQueueUrl',
];

/**
 * The session policy: the site's queue, the range queues (never their DLQs), the pilot's own lease
 * and the pilot S3 prefixes, nothing else.
 */
export function sessionPolicy(
  scope: { pilotId: string; siteId: string; queueUrl: string; bucket: string; leaseTable: string },
  roleArn: string,
  dataLocations: readonly string[] = [],
): { Version: string; Statement: Array<Record<string, unknown>> } {
  const [, , , , account = '*'] = roleArn.split(':');
  const queueName = scope.queueUrl.split('/').at(-1) ?? '';
  const region = /sqs\.([a-z0-9-]+)\./.exec(scope.queueUrl)?.[1] ?? '*';
  const partition = roleArn.split(':')[1] ?? 'aws';
  const queueArn = (name: string) => `arn:${partition}:sqs:${region}:${account}:${name}`;
  // The stack's queue prefix is what the site queue's name has before `site-<siteId>`.
  const siteSuffix = queueNames('', scope.siteId).queue;
  if (!queueName.endsWith(siteSuffix)) {
    throw new Error(`queue ${queueName} is not the queue of site ${scope.siteId}`);
  }
  // Task ids hold no dash, so `…-dlq` matches the DLQs and nothing else; an ARN pattern cannot
  // leave them out of `ranges-*`, the Deny does.
  const prefix = queueName.slice(0, -siteSuffix.length);
  const ranges = rangeQueueNames(prefix, '*');
  // The site's queue of every resource class (the pilot polls those it can run), and no DLQ.
  const siteQueues = RESOURCE_CLASSES.map((c) => queueArn(queueNames(prefix, scope.siteId, c).queue));
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility'],
        Resource: siteQueues,
      },
      { Effect: 'Allow', Action: RANGE_CONSUMER_ACTIONS, Resource: queueArn(ranges.queue) },
      { Effect: 'Deny', Action: RANGE_CONSUMER_ACTIONS, Resource: queueArn(ranges.dlq) },
      {
        // The heartbeat: UpdateItem of the pilot's own lease item, and of no other.
        Effect: 'Allow',
        Action: ['dynamodb:UpdateItem'],
        Resource: `arn:${partition}:dynamodb:${region}:${account}:table/${scope.leaseTable}`,
        Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [scope.pilotId] } },
      },
      {
        // PutObject covers the parts of a multipart upload; a failed one is aborted (its parts deleted).
        Effect: 'Allow',
        Action: ['s3:PutObject', 's3:AbortMultipartUpload'],
        Resource: `arn:${partition}:s3:::${scope.bucket}/${OBJECT_PREFIXES.tasks}*`,
      },
      {
        // Merge jobs read the range outputs under tasks/.
        Effect: 'Allow',
        Action: ['s3:GetObject'],
        Resource: [
          `arn:${partition}:s3:::${scope.bucket}/${OBJECT_PREFIXES.sandboxes}*`,
          `arn:${partition}:s3:::${scope.bucket}/${OBJECT_PREFIXES.inputs}*`,
          `arn:${partition}:s3:::${scope.bucket}/${OBJECT_PREFIXES.tasks}*`,
        ],
      },
      // Stage-in of catalog files from the storage endpoints' buckets (replicas of dataset tasks).
      ...(dataLocations.length === 0
        ? []
        : [
            {
              Effect: 'Allow',
              Action: ['s3:GetObject'],
              Resource: dataLocations.map((l) => `arn:${partition}:s3:::${l.replace(/\/?$/, '/')}*`),
            },
          ]),
    ],
  };
}

/** Where pilots bring their own credentials (an instance role on EC2, or the local stand-ins). */
export class NoCredentialVendor implements CredentialVendor {
  async vend(): Promise<undefined> {
    return undefined;
  }
}
