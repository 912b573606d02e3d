import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import { Metric } from 'aws-cdk-lib/aws-cloudwatch';
import { Effect, type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { queueNames } from '#adapters/sqs/sqs-job-queue.ts';
import { rangeQueueNames } from '#adapters/sqs/sqs-range-queue.ts';
import type { ResourceClass } from '#core/jobs/resource-class.ts';
import type { RangeQueueAccess, SiteQueueAccess } from '../function-access.ts';

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

/** `send-dead-letters` adds nothing of its own: it lifts the Deny on the range DLQs that `send` brings. */
const RANGE_QUEUE_ACTIONS: Record<RangeQueueAccess, string[]> = {
  create: ['sqs:CreateQueue', 'sqs:GetQueueAttributes'],
  delete: ['sqs:DeleteQueue'],
  'get-url': ['sqs:GetQueueUrl'],
  send: ['sqs:SendMessage'],
  'send-dead-letters': [],
};

/**
 * What a consumer does with range messages: receive them, extend or end their lease, delete them,
 * send back the unstarted rest of one (looking the queue up by name).
 */
const CONSUME_RANGE_ACTIONS = [
  'sqs:ReceiveMessage',
  'sqs:ChangeMessageVisibility',
  'sqs:DeleteMessage',
  'sqs:SendMessage',
  'sqs:GetQueueUrl',
];

/**
 * The site queues and the range queues. They are not CloudFormation resources: the application
 * creates a queue and its DLQ per site (SqsJobQueue.ensureSiteQueue, named `<prefix>site-<siteId>`
 * and `…-dlq`) and per event-service task (SqsRangeQueue.ensureTaskQueue, `<prefix>ranges-<taskId>`
 * and `…-dlq`, deleted when the task ends) at run time. This construct owns the naming, the IAM
 * grants on the name patterns and the metrics the alarms watch.
 */
export class JobDispatch extends Construct {
  readonly queuePrefix: string;
  /** `arn:…:sqs:<region>:<account>:<prefix>site-*` — every site queue and DLQ of this stack. */
  readonly siteQueueArnPattern: string;
  /** `arn:…:sqs:<region>:<account>:<prefix>site-*-dlq` — the DLQs only. */
  readonly siteDlqArnPattern: string;
  /** `arn:…:sqs:<region>:<account>:<prefix>ranges-*` — every range queue and range DLQ of this stack. */
  readonly rangeQueueArnPattern: string;
  /** `arn:…:sqs:<region>:<account>:<prefix>ranges-*-dlq` — the range DLQs only (task ids hold no dash). */
  readonly rangeDlqArnPattern: string;

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
    const ranges = rangeQueueNames(props.queuePrefix, '*');
    this.rangeQueueArnPattern = queueArn(ranges.queue);
    this.rangeDlqArnPattern = queueArn(ranges.dlq);
  }

  /**
   * Lets a function send job messages to / look up the URL of / read the depth of / create any
   * site queue (never send to their DLQs).
   */
  grantSiteQueues(grantee: IGrantable, access: readonly SiteQueueAccess[]): void {
    const actions = [...new Set(access.flatMap((a) => SITE_QUEUE_ACTIONS[a]))];
    if (actions.length === 0) return;
    grantOnPattern(
      grantee,
      { sid: 'SiteQueues', actions, resource: this.siteQueueArnPattern },
      access.includes('send')
        ? { sid: 'NoSendToSiteDlqs', actions: ['sqs:SendMessage'], resource: this.siteDlqArnPattern }
        : undefined,
    );
  }

  /** Lets pilots take job messages from the site queues; never from a DLQ (operators look at those). */
  grantConsume(grantee: IGrantable): void {
    grantOnPattern(
      grantee,
      { sid: 'ConsumeSiteQueues', actions: CONSUME_ACTIONS, resource: this.siteQueueArnPattern },
      { sid: 'NoConsumeSiteDlqs', actions: CONSUME_ACTIONS, resource: this.siteDlqArnPattern },
    );
  }

  /**
   * Lets a function create, look up, send to or delete the range queues; sending to their DLQs
   * (fatal ranges) only with `send-dead-letters`.
   */
  grantRangeQueues(grantee: IGrantable, access: readonly RangeQueueAccess[]): void {
    const actions = [...new Set(access.flatMap((a) => RANGE_QUEUE_ACTIONS[a]))];
    if (actions.length === 0) return;
    grantOnPattern(
      grantee,
      { sid: 'RangeQueues', actions, resource: this.rangeQueueArnPattern },
      access.includes('send') && !access.includes('send-dead-letters')
        ? { sid: 'NoSendToRangeDlqs', actions: ['sqs:SendMessage'], resource: this.rangeDlqArnPattern }
        : undefined,
    );
  }

  /** Lets pilots consume range messages; never from a range DLQ (operators look at those). */
  grantConsumeRanges(grantee: IGrantable): void {
    grantOnPattern(
      grantee,
      { sid: 'ConsumeRangeQueues', actions: CONSUME_RANGE_ACTIONS, resource: this.rangeQueueArnPattern },
      { sid: 'NoConsumeRangeDlqs', actions: CONSUME_RANGE_ACTIONS, resource: this.rangeDlqArnPattern },
    );
  }

  /** Names of a site's queue and DLQ, exactly as the application creates them. */
  siteQueueNames(siteId: string, resourceClass: ResourceClass = 'score'): { queue: string; dlq: string } {
    return queueNames(this.queuePrefix, siteId, resourceClass);
  }

  /** Messages waiting in a site's DLQ of a class (jobs that pilots received too often without claiming). */
  metricDlqDepth(siteId: string, resourceClass: ResourceClass = 'score'): Metric {
    return sqsMetric('ApproximateNumberOfMessagesVisible', this.siteQueueNames(siteId, resourceClass).dlq);
  }

  /** Age of the oldest job message in a site's queue of a class (work waits, no pilot takes it). */
  metricOldestJobMessageAge(siteId: string, resourceClass: ResourceClass = 'score'): Metric {
    return sqsMetric('ApproximateAgeOfOldestMessage', this.siteQueueNames(siteId, resourceClass).queue);
  }

  /** CloudWatch search expression over every site queue of this stack (for the dashboard). */
  searchSiteQueues(metricName: string): string {
    return `SEARCH('{AWS/SQS,QueueName} MetricName="${metricName}" QueueName="${this.queuePrefix}site-"', 'Maximum', 300)`;
  }
}

interface QueueStatement {
  sid: string;
  actions: string[];
  resource: string;
}

/**
 * Allows `allow` on a queue name pattern and denies `deny` on the DLQ pattern: a queue's pattern
 * (`…site-*`, `…ranges-*`) matches its DLQs too, and no ARN pattern can leave them out.
 */
function grantOnPattern(grantee: IGrantable, allow: QueueStatement, deny?: QueueStatement): void {
  grantee.grantPrincipal.addToPrincipalPolicy(
    new PolicyStatement({ sid: allow.sid, actions: allow.actions, resources: [allow.resource] }),
  );
  if (deny === undefined) return;
  grantee.grantPrincipal.addToPrincipalPolicy(
    new PolicyStatement({
      sid: deny.sid,
      effect: Effect.DENY,
      actions: deny.actions,
      resources: [deny.resource],
    }),
  );
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
