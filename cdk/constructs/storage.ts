import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  type CfnBucket,
  ObjectOwnership,
} from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { ACCOUNTING_PREFIX, OBJECT_PREFIXES } from '#core/storage/object-keys.ts';
import { acknowledge } from '../nag.ts';

export interface StorageProps {
  removalPolicy: RemovalPolicy;
  /** Server access logs are kept this long. */
  accessLogExpirationDays: number;
}

/**
 * Key prefixes in the data bucket (core/storage/object-keys.ts): user sandboxes (uploaded before
 * submit), task outputs, and input files of processing tasks (`inputs/…` keys named in a task
 * spec's `inputs.files`).
 */
export const SANDBOX_PREFIX = OBJECT_PREFIXES.sandboxes;
export const TASK_OUTPUT_PREFIX = OBJECT_PREFIXES.tasks;
export const INPUT_PREFIX = OBJECT_PREFIXES.inputs;
/** Sandboxes are only needed until their task has run. */
const SANDBOX_EXPIRATION = Duration.days(30);

/**
 * The data bucket: SSE-S3, TLS only, no public access, bucket-owner-enforced ownership, server
 * access logs to a second bucket. Sandboxes expire after 30 days; incomplete multipart uploads are
 * aborted after one day. Task outputs (`tasks/`) are kept.
 */
export class Storage extends Construct {
  readonly bucket: Bucket;
  readonly accessLogsBucket: Bucket;

  constructor(scope: Construct, id: string, props: StorageProps) {
    super(scope, id);
    this.accessLogsBucket = new Bucket(this, 'AccessLogs', {
      // Server access log delivery supports SSE-S3 only.
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: props.removalPolicy,
      lifecycleRules: [
        { id: 'expire-access-logs', expiration: Duration.days(props.accessLogExpirationDays) },
        { id: 'abort-incomplete-multipart-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
    });
    (this.accessLogsBucket.node.defaultChild as CfnBucket).overrideLogicalId('AccessLogsBucket');
    acknowledge(
      this.accessLogsBucket,
      'AwsSolutions-S1',
      'This bucket is the server access log target of the data bucket; logging it into itself would loop.',
    );

    this.bucket = new Bucket(this, 'Data', {
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'data/',
      removalPolicy: props.removalPolicy,
      lifecycleRules: [
        { id: 'expire-sandboxes', prefix: SANDBOX_PREFIX, expiration: SANDBOX_EXPIRATION },
        { id: 'abort-incomplete-multipart-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
    });
    (this.bucket.node.defaultChild as CfnBucket).overrideLogicalId('DataBucket');
  }

  /** s3:PutObject on `sandboxes/*` only: the holder signs presigned upload URLs for users. */
  grantPutSandbox(grantee: IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'PutSandboxes',
        actions: ['s3:PutObject'],
        resources: [this.bucket.arnForObjects(`${SANDBOX_PREFIX}*`)],
      }),
    );
  }

  /** s3:GetObject on `tasks/*` only: the holder signs presigned download URLs of logs and outputs. */
  grantGetResults(grantee: IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'GetResults',
        actions: ['s3:GetObject'],
        resources: [this.bucket.arnForObjects(`${TASK_OUTPUT_PREFIX}*`)],
      }),
    );
  }

  /** s3:PutObject on `accounting/*` only: the accounting exports (CSV and Parquet by day). */
  grantPutAccounting(grantee: IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'PutAccountingExports',
        actions: ['s3:PutObject'],
        resources: [this.bucket.arnForObjects(`${ACCOUNTING_PREFIX}*`)],
      }),
    );
  }

  /**
   * What a pilot needs: read sandboxes and input files (stage-in), write task outputs (stage-out),
   * read task outputs (a merge job's inputs are range outputs).
   */
  grantPilotObjects(grantee: IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'GetSandboxes',
        actions: ['s3:GetObject'],
        resources: [this.bucket.arnForObjects(`${SANDBOX_PREFIX}*`)],
      }),
    );
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'GetInputs',
        actions: ['s3:GetObject'],
        resources: [this.bucket.arnForObjects(`${INPUT_PREFIX}*`)],
      }),
    );
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'PutTaskOutputs',
        // PutObject covers the parts of a multipart upload (large outputs); Abort deletes a failed one's parts.
        actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
        resources: [this.bucket.arnForObjects(`${TASK_OUTPUT_PREFIX}*`)],
      }),
    );
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'GetTaskOutputs',
        actions: ['s3:GetObject'],
        resources: [this.bucket.arnForObjects(`${TASK_OUTPUT_PREFIX}*`)],
      }),
    );
  }
}
