import type { RemovalPolicy } from 'aws-cdk-lib';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { TaskWorkflow } from './task-workflow.ts';

export interface MetaTasksProps {
  /** Physical name, derived from the stack name (the functions know its ARN up front). */
  stateMachineName: string;
  /** statemachines/meta-task.asl.json. */
  definitionFile: string;
  /** Its Lambda steps (advance-meta-task, wait-for-nodes). */
  functions: ReadonlyMap<string, IFunction>;
  logRetention: RetentionDays;
  removalPolicy: RemovalPolicy;
}

/**
 * Meta-tasks: their workflow, one Standard execution per meta-task (and per retry), defined by the
 * ASL file the local runner executes, logged and traced as the task workflow is (the same
 * construct: substitutions checked against the functions, invoke rights on exactly them). The
 * meta-task items live in the tasks table; the functions' rights to start node tasks and to send
 * the wait token back are in cdk/function-access.ts.
 */
export class MetaTasks extends Construct {
  readonly stateMachine: StateMachine;

  constructor(scope: Construct, id: string, props: MetaTasksProps) {
    super(scope, id);
    this.stateMachine = new TaskWorkflow(this, 'Workflow', props).stateMachine;
  }
}
