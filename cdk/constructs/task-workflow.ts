import { readFileSync } from 'node:fs';
import type { RemovalPolicy } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { DefinitionBody, LogLevel, StateMachine, StateMachineType } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { pascalCase } from '../function-catalog.ts';
import { acknowledge } from '../nag.ts';

export interface TaskWorkflowProps {
  /** Physical name, derived from the stack name (see GluonStack for why it is named). */
  stateMachineName: string;
  /** Absolute path of the ASL file with `${XxxFunctionArn}` placeholders. */
  definitionFile: string;
  /** The functions the ASL calls, by directory name (`split-task` fills `${SplitTaskFunctionArn}`). */
  functions: ReadonlyMap<string, IFunction>;
  logRetention: RetentionDays;
  removalPolicy: RemovalPolicy;
}

/** `split-task` → `SplitTaskFunctionArn`, the placeholder the ASL uses for the function. */
export function substitutionName(functionName: string): string {
  return `${pascalCase(functionName)}FunctionArn`;
}

/** Every `${Name}` placeholder of an ASL text. */
export function placeholdersOf(asl: string): Set<string> {
  return new Set([...asl.matchAll(/\$\{([A-Za-z0-9_]+)\}/g)].map((m) => m[1] as string));
}

/**
 * The task workflow: one Standard execution per task, defined by the same ASL file the local
 * workflow runner executes (statemachines/task.asl.json), with each `${XxxFunctionArn}`
 * substituted by the function's ARN. Every state is logged (with data) and traced with X-Ray.
 * The synth fails when the ASL and the function list disagree.
 */
export class TaskWorkflow extends Construct {
  readonly stateMachine: StateMachine;
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: TaskWorkflowProps) {
    super(scope, id);
    const substitutions: Record<string, string> = {};
    for (const [name, fn] of props.functions) substitutions[substitutionName(name)] = fn.functionArn;
    const placeholders = placeholdersOf(readFileSync(props.definitionFile, 'utf8'));
    const unfilled = [...placeholders].filter((p) => !(p in substitutions));
    const unused = Object.keys(substitutions).filter((s) => !placeholders.has(s));
    if (unfilled.length > 0 || unused.length > 0) {
      throw new Error(
        `${props.definitionFile} and the workflow functions disagree: no function for ${unfilled.join(', ') || '-'}; not in the ASL: ${unused.join(', ') || '-'}`,
      );
    }

    this.logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });
    this.stateMachine = new StateMachine(this, 'StateMachine', {
      stateMachineName: props.stateMachineName,
      stateMachineType: StateMachineType.STANDARD,
      definitionBody: DefinitionBody.fromFile(props.definitionFile),
      definitionSubstitutions: substitutions,
      logs: { destination: this.logGroup, level: LogLevel.ALL, includeExecutionData: true },
      tracingEnabled: true,
    });
    // Exactly the unqualified ARNs the ASL names (CDK's grantInvoke would add `<arn>:*` for versions).
    this.stateMachine.addToRolePolicy(
      new PolicyStatement({
        sid: 'InvokeWorkflowFunctions',
        actions: ['lambda:InvokeFunction'],
        resources: [...props.functions.values()].map((fn) => fn.functionArn),
      }),
    );
    acknowledge(
      this.stateMachine,
      'AwsSolutions-IAM5[Resource::*]',
      'Only the CloudWatch Logs delivery actions (logs:*LogDelivery, Describe*) and X-Ray trace uploads CDK adds for logging and tracing; neither supports resource-level permissions.',
    );
  }
}
