import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import { Metric } from 'aws-cdk-lib/aws-cloudwatch';
import { Effect, type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { queueNames } from '#adapters/sqs/sqs-job-queue.ts';
import type { SiteQueueAccess } from '../function-access.ts';

export interface JobDispatchProps {
  /** Prefix of every site queue name (GLUON_QUEUE_PREFIX), e.g. `gluon-dev-`. */
  queuePrefix: string;
}

const SITE_QUEUE_ACTIONS: Record<SiteQueueAccess, string[]> = {
  send: ['sqs:SendMessage'],
  'get-url': ['sqs:GetQueueUrl'],
  depth: ['sqs:GetQueueAttributes'],
  create: ['sqs:CreateQueue', 'sqs:GetQueueAttributes'],
  redrive: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility'],
};

/** What a pilot does with a job message: receive it, keep it invisible while claiming, delete it. */
const CONSUME_ACTIONS = ['sqs:ReceiveMessage', 'sqs:ChangeMessageVisibility', 'sqs:DeleteMessage'];

/**
 * The site queues. They are not CloudFormation resources: the application creates a queue and its
 * DLQ per site at run time (SqsJobQueue.ensureSiteQueue, named `<prefix>site-<siteId>` and
 * `…-dlq`). This construct owns the naming, the IAM grants on the name pattern and the metrics
 * the alarms watch.
 */
export class JobDispatch extends Construct {
  readonly queuePrefix: string;
  /** `arn:…:sqs:<region>:<account>:<prefix>site-*` — every site queue and DLQ of this stack. */
  readonly siteQueueArnPattern: string;
  /** `arn:…:sqs:<region>:<account>:<prefix>site-*-dlq` — the DLQs only. */
  readonly siteDlqArnPattern: string;

  constructor(scope: Construct, id: string, props: JobDispatchProps) {
    super(scope, id);
    if (!/^[a-zA-Z0-9_-]{1,30}$/.test(props.queuePrefix)) {
      throw new Error(`queue prefix "${props.queuePrefix}" must be 1-30 letters, digits, - or _`);
    }
    this.queuePrefix = props.queuePrefix;
    const queueArn = (name: string) =>
      Stack.of(this).formatArn({ service: 'sqs', resource: name, arnFormat: ArnFormat.NO_RESOURCE_NAME });
    this.siteQueueArnPattern = queueArn(`${props.queuePrefix}site-*`);
    this.siteDlqArnPattern = queueArn(`${props.queuePrefix}site-*-dlq`);
  }

  /**
   * Lets a function send job messages to / look up the URL of / read the depth of / create any
   * site queue (never send to their DLQs).
   */
  grantSiteQueues(grantee: IGrantable, access: readonly SiteQueueAccess[]): void {
    const actions = [...new Set(access.flatMap((a) => SITE_QUEUE_ACTIONS[a]))];
    if (actions.length === 0) return;
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({ sid: 'SiteQueues', actions, resources: [this.siteQueueArnPattern] }),
    );
    if (access.includes('send')) {
      grantee.grantPrincipal.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'NoSendToSiteDlqs',
          effect: Effect.DENY,
          actions: ['sqs:SendMessage'],
          resources: [this.siteDlqArnPattern],
        }),
      );
    }
  }

  /** Lets pilots take job messages from the site queues; never from a DLQ (operators look at those). */
  grantConsume(grantee: IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'ConsumeSiteQueues',
        actions: CONSUME_ACTIONS,
        resources: [this.siteQueueArnPattern],
      }),
    );
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'NoConsumeSiteDlqs',
        effect: Effect.DENY,
        actions: CONSUME_ACTIONS,
        resources: [this.siteDlqArnPattern],
      }),
    );
  }

  /** Names of a site's queue and DLQ, exactly as the application creates them. */
  siteQueueNames(siteId: string): { queue: string; dlq: string } {
    return queueNames(this.queuePrefix, siteId);
  }

  /** Messages waiting in a site's DLQ (jobs that pilots received too often without claiming). */
  metricDlqDepth(siteId: string): Metric {
    return sqsMetric('ApproximateNumberOfMessagesVisible', this.siteQueueNames(siteId).dlq);
  }

  /** Age of the oldest job message in a site's queue (work waits, no pilot takes it). */
  metricOldestJobMessageAge(siteId: string): Metric {
    return sqsMetric('ApproximateAgeOfOldestMessage', this.siteQueueNames(siteId).queue);
  }

  /** CloudWatch search expression over every site queue of this stack (for the dashboard). */
  searchSiteQueues(metricName: string): string {
    return `SEARCH('{AWS/SQS,QueueName} MetricName="${metricName}" QueueName="${this.queuePrefix}site-"', 'Maximum', 300)`;
  }
}

function sqsMetric(metricName: string, queueName: string): Metric {
  return new Metric({
    namespace: 'AWS/SQS',
    metricName,
    dimensionsMap: { QueueName: queueName },
    statistic: 'Maximum',
    period: Duration.minutes(5),
  });
}
