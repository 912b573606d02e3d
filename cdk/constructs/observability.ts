import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  MathExpression,
  Metric,
  TextWidget,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { RESOURCE_CLASSES } from '#core/jobs/resource-class.ts';
import { METRIC_NAMESPACE, METRICS, type MetricName } from '#core/metrics/metric-names.ts';
import { FUNCTION_CAPABILITY } from '#lambdas/routes.ts';
import { pascalCase } from '../function-catalog.ts';
import type { Stage } from '../stages.ts';
import type { GluonFunction } from './gluon-function.ts';
import type { JobDispatch } from './job-dispatch.ts';
import type { Transfers } from './transfers.ts';

/**
 * Custom metrics of the application (namespace `Gluon`; ids go in logs, not metrics; the few
 * low-cardinality dimensions are in core/metrics/metric-names.ts).
 */
export const GLUON_NAMESPACE = METRIC_NAMESPACE;
/** Jobs the reaper queued again because their pilot went silent (its lease expired); reap-pilots emits it. */
export const JOBS_REQUEUED_METRIC = 'JobsRequeued';

const FIVE_MINUTES = Duration.minutes(5);

export interface ObservabilityProps {
  stage: Stage;
  removalPolicy: RemovalPolicy;
  jobDispatch: JobDispatch;
  functions: readonly GluonFunction[];
  stateMachine: StateMachine;
  httpApi: HttpApi;
  /** The transfer service (its DLQ is alarmed). */
  transfers?: Transfers;
}

/**
 * Alarms for what needs an operator — job messages in a site DLQ, job messages nobody takes,
 * failed or timed-out task workflows, function errors and throttles, lost pilots (PilotsLost, JobsRequeued),
 * DynamoDB throttles, API 5xx — all to one SNS topic (KMS-encrypted, TLS only) with the stage's alarm e-mail; and one
 * dashboard with the same signals and the job metrics (started, ended by outcome, retries by error
 * code, claim latency, queue depth per site).
 */
export class Observability extends Construct {
  readonly topic: Topic;
  readonly alarms: Alarm[] = [];
  readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    const { stage } = props;
    const key = new Key(this, 'AlarmTopicKey', {
      description: 'Gluon alarm topic',
      enableKeyRotation: true,
      removalPolicy: props.removalPolicy,
    });
    // CloudWatch publishes alarm notifications to the encrypted topic.
    key.grant(new ServicePrincipal('cloudwatch.amazonaws.com'), 'kms:Decrypt', 'kms:GenerateDataKey*');
    this.topic = new Topic(this, 'AlarmTopic', {
      displayName: 'Gluon alarms',
      masterKey: key,
      enforceSSL: true,
    });
    this.topic.addSubscription(new EmailSubscription(stage.alarmEmail));
    const action = new SnsAction(this.topic);

    const alarm = (id: string, metric: IMetric, threshold: number, description: string): Alarm => {
      const created = new Alarm(this, id, {
        metric,
        threshold,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      });
      created.addAlarmAction(action);
      created.addOkAction(action);
      this.alarms.push(created);
      return created;
    };

    // Every resource class's queue of each site (single-core keeps the site's own ids).
    for (const siteId of stage.sites) {
      for (const resourceClass of RESOURCE_CLASSES) {
        const names = props.jobDispatch.siteQueueNames(siteId, resourceClass);
        const id = resourceClass === 'score' ? `Site-${siteId}` : `Site-${siteId}-${resourceClass}`;
        alarm(
          `${id}-DlqNotEmpty`,
          props.jobDispatch.metricDlqDepth(siteId, resourceClass),
          1,
          `Job messages in ${names.dlq}: pilots at site ${siteId} received them repeatedly without claiming. Inspect them, fix the cause, redrive.`,
        );
        alarm(
          `${id}-OldestJobMessage`,
          props.jobDispatch.metricOldestJobMessageAge(siteId, resourceClass),
          stage.alarms.oldestJobMessageAgeSec,
          `A ${resourceClass} job message waits in ${names.queue} for over ${stage.alarms.oldestJobMessageAgeSec} s: no pilot that can run it takes work at site ${siteId}.`,
        );
      }
    }

    if (props.transfers !== undefined) {
      alarm(
        'TransfersDlqNotEmpty',
        props.transfers.metricDlqDepth(),
        1,
        'Transfer messages in the transfers DLQ: the transfer service failed on them five times (S3 or DynamoDB unreachable, or a bug). Their rules stay replicating; inspect the messages and the transfer-files logs, then redrive.',
      );
    }

    alarm(
      'WorkflowExecutionsFailed',
      props.stateMachine.metricFailed({ period: FIVE_MINUTES, statistic: 'Sum' }),
      1,
      'A task workflow execution failed (FailTask itself failed or the execution could not run). See the workflow log group.',
    );
    alarm(
      'WorkflowExecutionsTimedOut',
      props.stateMachine.metricTimedOut({ period: FIVE_MINUTES, statistic: 'Sum' }),
      1,
      'A task workflow execution timed out.',
    );

    // Errors and throttles of every function, summed over groups of functions of one capability:
    // an alarm per function (two each) would take a CloudFormation stack past its 500 resources,
    // and an alarm's metric math holds at most 10 metrics. The description names the group's
    // functions; the dashboard's per-function widgets show which one.
    for (const [group, functions] of functionGroups(props.functions)) {
      const names = functions.map((fn) => fn.name).join(', ');
      const sum = (metric: (fn: GluonFunction) => IMetric) =>
        new MathExpression({
          expression: `SUM([${functions.map((_, i) => `m${i}`).join(', ')}])`,
          usingMetrics: Object.fromEntries(functions.map((fn, i) => [`m${i}`, metric(fn)])),
          period: FIVE_MINUTES,
        });
      alarm(
        `${group}-Errors`,
        sum((fn) => fn.function.metricErrors({ period: FIVE_MINUTES, statistic: 'Sum' })),
        stage.alarms.functionErrorsPer5Min,
        `Functions ${names} failed ${stage.alarms.functionErrorsPer5Min}+ times in 5 minutes together. See the dashboard's function errors and their log groups.`,
      );
      alarm(
        `${group}-Throttles`,
        sum((fn) => fn.function.metricThrottles({ period: FIVE_MINUTES, statistic: 'Sum' })),
        1,
        `One of the functions ${names} was throttled (account or reserved concurrency exhausted).`,
      );
    }

    const jobsRequeued = new Metric({
      namespace: GLUON_NAMESPACE,
      metricName: JOBS_REQUEUED_METRIC,
      statistic: 'Sum',
      period: FIVE_MINUTES,
    });
    alarm(
      'JobsRequeuedBacklog',
      jobsRequeued,
      stage.alarms.jobsRequeuedPer5Min,
      `The reaper queued ${stage.alarms.jobsRequeuedPer5Min}+ jobs again in 5 minutes: many pilots went silent (site outage?).`,
    );

    /** An application metric (lambdas/runtime/powertools.ts emits them), summed per period. */
    const gluonMetric = (metricName: MetricName, statistic = 'Sum', period = FIVE_MINUTES) =>
      new Metric({ namespace: GLUON_NAMESPACE, metricName, statistic, period });
    /** A metric counted by a dimension (outcome, pilot error code, site): one line per value, found by search. */
    const byDimension = (metricName: MetricName, label: string, statistic = 'Sum') => {
      const dimension = (METRICS[metricName] as { dimension?: string }).dimension;
      return new MathExpression({
        expression: `SEARCH('{${GLUON_NAMESPACE},${dimension}} MetricName="${metricName}"', '${statistic}', 300)`,
        label,
        period: FIVE_MINUTES,
        usingMetrics: {},
      });
    };
    const pilotsLost = gluonMetric('PilotsLost');
    alarm(
      'PilotsLostHigh',
      pilotsLost,
      stage.alarms.pilotsLostPer5Min,
      `The reaper found ${stage.alarms.pilotsLostPer5Min}+ pilots lost in 5 minutes (their lease expired): a site or its network may be down. See gluon pilots and the reaper's log lines (pilotId, siteId).`,
    );
    const dynamoDbThrottles = gluonMetric('DynamoDbThrottles');
    alarm(
      'DynamoDbThrottled',
      dynamoDbThrottles,
      stage.alarms.dynamoDbThrottlesPer5Min,
      `DynamoDB refused ${stage.alarms.dynamoDbThrottlesPer5Min}+ requests for throughput in 5 minutes (hot partition or account limit). Requests were retried; see the functions' logs.`,
    );

    const apiServerErrors = props.httpApi.metricServerError({ period: FIVE_MINUTES, statistic: 'Sum' });
    alarm(
      'ApiServerErrors',
      apiServerErrors,
      stage.alarms.apiServerErrorsPer5Min,
      `The API answered ${stage.alarms.apiServerErrorsPer5Min}+ requests with 5xx in 5 minutes.`,
    );

    this.dashboard = new Dashboard(this, 'Dashboard', { defaultInterval: Duration.hours(3) });
    const perFunction = (metric: (fn: GluonFunction) => IMetric) => props.functions.map(metric);
    const search = (metricName: string, label: string) =>
      new MathExpression({
        expression: props.jobDispatch.searchSiteQueues(metricName),
        label,
        period: FIVE_MINUTES,
        usingMetrics: {},
      });
    this.dashboard.addWidgets(
      new TextWidget({
        markdown: `# Gluon ${stage.name}\nSite queues \`${props.jobDispatch.queuePrefix}site-*\`; alarms go to ${stage.alarmEmail}.`,
        width: 24,
        height: 2,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'API requests and errors',
        left: [
          props.httpApi.metricCount({ period: FIVE_MINUTES }),
          props.httpApi.metricClientError({ period: FIVE_MINUTES }),
          apiServerErrors,
        ],
        width: 12,
      }),
      new GraphWidget({
        title: 'API latency p90 (ms)',
        left: [props.httpApi.metricLatency({ period: FIVE_MINUTES, statistic: 'p90' })],
        width: 12,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Task workflows',
        left: [
          props.stateMachine.metricStarted({ period: FIVE_MINUTES }),
          props.stateMachine.metricSucceeded({ period: FIVE_MINUTES }),
          props.stateMachine.metricFailed({ period: FIVE_MINUTES }),
          props.stateMachine.metricTimedOut({ period: FIVE_MINUTES }),
        ],
        width: 12,
      }),
      new GraphWidget({ title: 'Jobs requeued (pilots lost)', left: [jobsRequeued], width: 12 }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Job messages waiting, per site queue and DLQ',
        left: [search('ApproximateNumberOfMessagesVisible', 'visible')],
        width: 12,
      }),
      new GraphWidget({
        title: 'Age of the oldest job message (s), per site queue',
        left: [search('ApproximateAgeOfOldestMessage', 'age')],
        width: 12,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Function errors',
        left: perFunction((fn) => fn.function.metricErrors({ period: FIVE_MINUTES, label: fn.name })),
        width: 8,
      }),
      new GraphWidget({
        title: 'Function throttles',
        left: perFunction((fn) => fn.function.metricThrottles({ period: FIVE_MINUTES, label: fn.name })),
        width: 8,
      }),
      new GraphWidget({
        title: 'Function duration p90 (ms)',
        left: perFunction((fn) =>
          fn.function.metricDuration({ period: FIVE_MINUTES, statistic: 'p90', label: fn.name }),
        ),
        width: 8,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Jobs started and ended, by outcome',
        left: [gluonMetric('JobsStarted'), byDimension('JobsEnded', 'ended')],
        width: 12,
      }),
      new GraphWidget({
        title: 'Retries by pilot error code',
        left: [byDimension('RetriesByErrorCode', 'retries')],
        width: 12,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Claim latency (ms)',
        left: [gluonMetric('ClaimLatency', 'Average'), gluonMetric('ClaimLatency', 'p99')],
        width: 8,
      }),
      new GraphWidget({
        title: 'Job messages waiting per site (dispatch)',
        left: [byDimension('QueueDepth', 'depth', 'Maximum')],
        width: 8,
      }),
      new GraphWidget({
        title: 'Pilots lost and DynamoDB throttles',
        left: [pilotsLost, dynamoDbThrottles],
        width: 8,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Task events and webhook deliveries',
        left: [
          gluonMetric('TaskEventsPublished'),
          gluonMetric('WebhooksDelivered'),
          gluonMetric('WebhookAttemptsFailed'),
          gluonMetric('WebhookDeliveriesFailed'),
        ],
        width: 24,
      }),
    );
    this.dashboard.addWidgets(new AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 24 }));
  }
}

/** An alarm's metric math may use at most 10 metrics. */
const MAX_METRICS_PER_ALARM = 10;

/** The functions by capability, in groups of at most 10, each named `<Capability><n>`. */
export function functionGroups(functions: readonly GluonFunction[]): Array<[string, GluonFunction[]]> {
  const byCapability = new Map<string, GluonFunction[]>();
  for (const fn of functions) {
    const capability = FUNCTION_CAPABILITY[fn.name] ?? 'other';
    byCapability.set(capability, [...(byCapability.get(capability) ?? []), fn]);
  }
  const groups: Array<[string, GluonFunction[]]> = [];
  for (const [capability, members] of byCapability) {
    for (let start = 0; start < members.length; start += MAX_METRICS_PER_ALARM) {
      groups.push([
        `Functions-${pascalCase(capability)}${start / MAX_METRICS_PER_ALARM + 1}`,
        members.slice(start, start + MAX_METRICS_PER_ALARM),
      ]);
    }
  }
  return groups;
}
