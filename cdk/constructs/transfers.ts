import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import type { IMetric } from 'aws-cdk-lib/aws-cloudwatch';
import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { acknowledge } from '../nag.ts';

export interface TransfersProps {
  removalPolicy: RemovalPolicy;
  /** The deployment's results bucket: the GLUON-RESULTS endpoint (its replicas under `tasks/`). */
  resultsBucket: IBucket;
  /** Other buckets storage endpoints name (the stage's `catalog.dataBuckets`): copied from and to. */
  dataBuckets: readonly string[];
  /** How long a message stays invisible while a consumer has it: at least the consumer's timeout. */
  visibilityTimeoutSec: number;
}

/** A message received this many times without being deleted goes to the DLQ (the core retries on its own). */
const MAX_RECEIVES = 5;

/**
 * The transfer service (FTS's role): the `transfers` queue (one message per file to copy; the core
 * sends retries to it with a delay) and its dead-letter queue, both TLS-only and encrypted; the
 * consumer's event source mapping (batch item failures reported); the copier's S3 grants.
 */
export class Transfers extends Construct {
  readonly queue: Queue;
  readonly deadLetters: Queue;
  private readonly props: TransfersProps;

  constructor(scope: Construct, id: string, props: TransfersProps) {
    super(scope, id);
    this.props = props;
    this.deadLetters = new Queue(this, 'TransfersDlq', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      removalPolicy: props.removalPolicy,
    });
    acknowledge(
      this.deadLetters,
      'AwsSolutions-SQS3',
      'This queue is itself the dead-letter queue of the transfers queue.',
    );
    this.queue = new Queue(this, 'TransfersQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(props.visibilityTimeoutSec),
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.deadLetters, maxReceiveCount: MAX_RECEIVES },
      removalPolicy: props.removalPolicy,
    });
  }

  /** sqs:SendMessage on the transfers queue (new transfers, and retries with a delay). */
  grantSend(grantee: IGrantable): void {
    this.queue.grantSendMessages(grantee);
  }

  /** The consumer: messages in batches, each failed message alone coming back (ReportBatchItemFailures). */
  addConsumer(fn: IFunction, batchSize: number): void {
    fn.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize,
        maxBatchingWindow: Duration.seconds(1),
        reportBatchItemFailures: true,
      }),
    );
  }

  /**
   * The copier: read, write, delete (a corrupt copy) and abort multipart uploads on the objects of
   * the endpoints' buckets; in the results bucket under `tasks/` only.
   */
  grantCopy(grantee: IGrantable): void {
    const actions = ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'];
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'CopyResultsReplicas',
        actions,
        resources: [this.props.resultsBucket.arnForObjects('tasks/*')],
      }),
    );
    if (this.props.dataBuckets.length > 0) {
      grantee.grantPrincipal.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'CopyEndpointReplicas',
          actions,
          resources: this.props.dataBuckets.map((bucket) => `arn:aws:s3:::${bucket}/*`),
        }),
      );
    }
  }

  /** Nag findings of a copier's role, acknowledged with their reasons. */
  acknowledgeCopier(scope: Construct, resultsBucketLogicalId: string): void {
    acknowledge(
      scope,
      `AwsSolutions-IAM5[Resource::<${resultsBucketLogicalId}.Arn>/tasks/*]`,
      'The transfer service copies replicas to and from the results bucket (the GLUON-RESULTS endpoint), whose replicas are under tasks/ only.',
    );
    for (const bucket of this.props.dataBuckets) {
      acknowledge(
        scope,
        `AwsSolutions-IAM5[Resource::arn:aws:s3:::${bucket}/*]`,
        `The transfer service copies catalog replicas to and from storage endpoint bucket ${bucket}, under any key its endpoints' prefixes name.`,
      );
    }
  }

  /** Messages in the DLQ: transfers whose message failed five receives (the alarm's metric). */
  metricDlqDepth(): IMetric {
    return this.deadLetters.metricApproximateNumberOfMessagesVisible({
      period: Duration.minutes(5),
      statistic: 'Maximum',
    });
  }
}
