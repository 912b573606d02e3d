/**
 * An error answer of the local Step Functions API: `type` is the AWS error name the SDK turns
 * into an exception (`ExecutionAlreadyExists`, `TaskDoesNotExist`, …), sent with HTTP 400.
 */
export class WorkflowServiceError extends Error {
  override readonly name = 'WorkflowServiceError';
  readonly type: string;
  readonly status: number;
  constructor(type: string, message: string, status = 400) {
    super(message);
    this.type = type;
    this.status = status;
  }
}
