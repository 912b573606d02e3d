import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import { EventBus, Rule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import type { IGrantable } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { pascalCase } from '../function-catalog.ts';
import { acknowledge } from '../nag.ts';

export interface EventTarget {
  functionName: string;
  pattern: Readonly<Record<string, unknown>>;
}

export interface NotificationsProps {
  removalPolicy: RemovalPolicy;
}

/**
 * Task events: a custom EventBridge bus (the tasks table's change feed publishes each task state
 * change to it) and, once the functions exist, one rule per event function (lambdas/routes.ts
 * EVENT_FUNCTIONS). An event a target could not take after EventBridge's retries (24 h) lands in a
 * dead-letter queue instead of being lost.
 */
export class Notifications extends Construct {
  readonly bus: EventBus;
  readonly deadLetters: Queue;
  readonly rules: Rule[] = [];

  constructor(scope: Construct, id: string, props: NotificationsProps) {
    super(scope, id);
    this.bus = new EventBus(this, 'TaskEvents', { description: 'Gluon task state changes' });
    this.deadLetters = new Queue(this, 'TargetDeadLetters', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      removalPolicy: props.removalPolicy,
    });
    acknowledge(
      this.deadLetters,
      'AwsSolutions-SQS3',
      'This queue is itself the dead-letter queue of the task event rules’ targets.',
    );
  }

  /** events:PutEvents on this bus only. */
  grantPut(grantee: IGrantable): void {
    this.bus.grantPutEventsTo(grantee);
  }

  /** One rule per event function, matching its pattern on the task event bus. */
  addTargets(targets: readonly EventTarget[], functions: ReadonlyMap<string, IFunction>): void {
    for (const target of targets) {
      const fn = functions.get(target.functionName);
      if (fn === undefined) throw new Error(`event rule for ${target.functionName}: no such function`);
      const rule = new Rule(this, pascalCase(target.functionName), {
        eventBus: this.bus,
        description: `Gluon: task events to ${target.functionName}`,
        eventPattern: eventPatternOf(target.pattern),
      });
      rule.addTarget(
        new LambdaFunction(fn, {
          deadLetterQueue: this.deadLetters,
          retryAttempts: 185,
          maxEventAge: Duration.hours(24),
        }),
      );
      this.rules.push(rule);
    }
  }
}

/** `{ source, 'detail-type', detail }` as CDK's EventPattern spells them. */
function eventPatternOf(pattern: Readonly<Record<string, unknown>>) {
  const {
    source,
    'detail-type': detailType,
    detail,
    ...rest
  } = pattern as {
    source?: string[];
    'detail-type'?: string[];
    detail?: Record<string, unknown>;
  };
  if (Object.keys(rest).length > 0)
    throw new Error(`event pattern fields not supported: ${Object.keys(rest).join(', ')}`);
  return {
    ...(source === undefined ? {} : { source: [...source] }),
    ...(detailType === undefined ? {} : { detailType: [...detailType] }),
    ...(detail === undefined ? {} : { detail: structuredClone(detail) as Record<string, unknown> }),
  };
}
