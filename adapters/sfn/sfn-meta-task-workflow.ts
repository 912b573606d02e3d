import { SendTaskSuccessCommand, type SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { MetaTaskWorkflow } from '#core/meta-tasks/ports.ts';
import { errorName, rethrowSdkError } from '../sdk-errors.ts';

/** Errors of SendTaskSuccess that mean the waiting execution is gone (or the token was used). */
const GONE_TOKEN_ERRORS = new Set(['TaskTimedOut', 'InvalidToken', 'TaskDoesNotExist']);

/** The meta-task workflow on Step Functions: one Standard execution per meta-task (and per retry). */
export class SfnMetaTaskWorkflow implements MetaTaskWorkflow {
  private readonly client: SFNClient;
  private readonly stateMachineArn: string | undefined;

  constructor(client: SFNClient, stateMachineArn: string | undefined) {
    this.client = client;
    this.stateMachineArn = stateMachineArn;
  }

  async start(metaTaskId: string, retry?: number): Promise<void> {
    if (this.stateMachineArn === undefined)
      throw new Error('GLUON_META_TASK_STATE_MACHINE_ARN is not set: this function cannot start meta-tasks');
    try {
      await this.client.send(
        new StartExecutionCommand({
          stateMachineArn: this.stateMachineArn,
          name: retry === undefined || retry === 0 ? metaTaskId : `${metaTaskId}-r${retry}`,
          input: JSON.stringify({ metaTaskId }),
        }),
      );
    } catch (error) {
      if (errorName(error) === 'ExecutionAlreadyExists') return;
      rethrowSdkError(error, `start workflow of meta-task ${metaTaskId}`);
    }
  }

  async releaseWait(token: string, metaTaskId: string): Promise<void> {
    try {
      await this.client.send(
        new SendTaskSuccessCommand({ taskToken: token, output: JSON.stringify({ metaTaskId }) }),
      );
    } catch (error) {
      const name = errorName(error);
      if (name !== undefined && GONE_TOKEN_ERRORS.has(name)) return;
      rethrowSdkError(error, `release the wait of meta-task ${metaTaskId}`);
    }
  }
}
