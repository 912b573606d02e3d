import { Stack } from 'aws-cdk-lib';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { CfnSchedule } from 'aws-cdk-lib/aws-scheduler';
import { Construct } from 'constructs';
import { pascalCase } from '../function-catalog.ts';

export interface ScheduledFunction {
  functionName: string;
  everySec: number;
}

export interface SchedulesProps {
  schedules: readonly ScheduledFunction[];
  functions: ReadonlyMap<string, IFunction>;
}

/** EventBridge Scheduler takes whole minutes: `rate(1 minute)`, `rate(5 minutes)`. */
export function rateExpression(everySec: number): string {
  if (!Number.isInteger(everySec) || everySec < 60 || everySec % 60 !== 0) {
    throw new Error(`schedule every ${everySec} s: EventBridge Scheduler needs a whole number of minutes`);
  }
  const minutes = everySec / 60;
  return minutes === 1 ? 'rate(1 minute)' : `rate(${minutes} minutes)`;
}

/**
 * EventBridge Scheduler schedules for the scheduled functions (lambdas/routes.ts
 * SCHEDULED_FUNCTIONS). One role, assumable by the scheduler for this account only, that may invoke
 * exactly these functions. A run that cannot be delivered within its period is dropped: the next
 * run does the same work.
 */
export class Schedules extends Construct {
  readonly role: Role;
  readonly schedules: CfnSchedule[] = [];

  constructor(scope: Construct, id: string, props: SchedulesProps) {
    super(scope, id);
    const account = Stack.of(this).account;
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('scheduler.amazonaws.com').withConditions({
        StringEquals: { 'aws:SourceAccount': account },
      }),
      description: 'EventBridge Scheduler: invoke the Gluon scheduled functions',
    });
    const targets = props.schedules.map((s) => {
      const fn = props.functions.get(s.functionName);
      if (fn === undefined) throw new Error(`schedule for ${s.functionName}: no such function`);
      return { ...s, fn };
    });
    if (targets.length === 0) return;
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'InvokeScheduledFunctions',
        actions: ['lambda:InvokeFunction'],
        resources: targets.map((t) => t.fn.functionArn),
      }),
    );
    for (const target of targets) {
      const schedule = new CfnSchedule(this, pascalCase(target.functionName), {
        description: `Gluon: run ${target.functionName} every ${target.everySec} s`,
        scheduleExpression: rateExpression(target.everySec),
        flexibleTimeWindow: { mode: 'OFF' },
        state: 'ENABLED',
        target: {
          arn: target.fn.functionArn,
          roleArn: this.role.roleArn,
          input: JSON.stringify({ source: 'gluon.schedule', functionName: target.functionName }),
          retryPolicy: { maximumRetryAttempts: 2, maximumEventAgeInSeconds: target.everySec },
        },
      });
      // The role's policy must exist before the scheduler first invokes the function.
      schedule.node.addDependency(this.role);
      this.schedules.push(schedule);
    }
  }
}
