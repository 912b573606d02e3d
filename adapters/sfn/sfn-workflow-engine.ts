import { SendTaskSuccessCommand, type SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { WaitOutcome, WorkflowEngine } from '#core/tasks/ports.ts';
import { errorName, rethrowSdkError } from '../sdk-errors.ts';

/** Errors of SendTaskSuccess that mean the waiting execution is gone: nothing is left to release. */
const GONE_TOKEN_ERRORS = new Set(['TaskTimedOut', 'InvalidToken', 'TaskDoesNotExist']);

export type WarnLog = (message: string, fields: Record<string, unknown>) => void;

const defaultWarn: WarnLog = (message, fields) => {
  console.warn(JSON.stringify({ level: 'WARN', message, ...fields }));
};

/** The task workflow on Step Functions: one Standard execution per task, named by the task id. */
export class SfnWorkflowEngine implements WorkflowEngine {
  private readonly client: SFNClient;
  private readonly stateMachineArn: string;
  private readonly warn: WarnLog;

  constructor(client: SFNClient, stateMachineArn: string, warn: WarnLog = defaultWarn) {
    this.client = client;
    this.stateMachineArn = stateMachineArn;
    this.warn = warn;
  }

  /**
   * Idempotent: the execution name is the task id, so a second start finds the first. A task a
   * resubmit reopened gets an execution of its own, `<taskId>-r<order>`, that starts at the
   * resubmit step (its input says `resubmit: true`).
   */
  async startTask(taskId: string, options: { resubmitOrder?: number } = {}): Promise<void> {
    const reopened = options.resubmitOrder !== undefined;
    try {
      await this.client.send(
        new StartExecutionCommand({
          stateMachineArn: this.stateMachineArn,
          name: reopened ? `${taskId}-r${options.resubmitOrder}` : taskId,
          input: JSON.stringify(reopened ? { taskId, resubmit: true } : { taskId }),
        }),
      );
    } catch (error) {
      if (errorName(error) === 'ExecutionAlreadyExists') return;
      rethrowSdkError(error, `start workflow of task ${taskId}`);
    }
  }

  async releaseWait(token: string, output: WaitOutcome): Promise<void> {
    try {
      await this.client.send(
        new SendTaskSuccessCommand({ taskToken: token, output: JSON.stringify(output) }),
      );
    } catch (error) {
      const name = errorName(error);
      if (name !== undefined && GONE_TOKEN_ERRORS.has(name)) {
        this.warn('workflow wait token no longer valid; its execution is gone', {
          taskId: output.taskId,
          error: name,
        });
        return;
      }
      rethrowSdkError(error, `release workflow wait of task ${output.taskId}`);
    }
  }
}
