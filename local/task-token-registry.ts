import { randomBytes } from 'node:crypto';
import { WorkflowServiceError } from './workflow-service-error.ts';

/** What a waiting `.waitForTaskToken` state receives: SendTaskSuccess output, or an error. */
interface Waiter {
  executionArn: string;
  stateName: string;
  resolve(output: unknown): void;
  reject(error: Error): void;
}

/** The error a state fails with after SendTaskFailure (`name` is the error, as Catch matches it). */
export class TaskFailureError extends Error {
  constructor(error: string, cause: string) {
    super(cause);
    this.name = error;
  }
}

const TOKEN_BYTES = 96;
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{128}$/;
const MAX_OUTPUT_BYTES = 256 * 1024;

/**
 * Task tokens of the states that wait for a callback. A token lives while its state waits; once
 * used (or its execution is abandoned) it is unknown, as in Step Functions.
 */
export class TaskTokenRegistry {
  readonly #waiters = new Map<string, Waiter>();

  /** Issues a token for a waiting state; `wait` settles on SendTaskSuccess/Failure. */
  issue(executionArn: string, stateName: string): { token: string; wait: Promise<unknown> } {
    const token = randomBytes(TOKEN_BYTES).toString('base64url');
    const wait = new Promise<unknown>((resolve, reject) => {
      this.#waiters.set(token, { executionArn, stateName, resolve, reject });
    });
    return { token, wait };
  }

  /** Forgets a token without settling it (its handler failed, so the state failed anyway). */
  discard(token: string): void {
    this.#waiters.delete(token);
  }

  succeed(token: string, output: string): void {
    const waiter = this.#take(token);
    if (Buffer.byteLength(output, 'utf8') > MAX_OUTPUT_BYTES) {
      this.#waiters.set(token, waiter);
      throw new WorkflowServiceError('ValidationException', 'output is longer than 262144 bytes');
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(output);
    } catch {
      this.#waiters.set(token, waiter);
      throw new WorkflowServiceError('InvalidOutput', 'output is not valid JSON');
    }
    waiter.resolve(parsed);
  }

  fail(token: string, error: string | undefined, cause: string | undefined): void {
    const waiter = this.#take(token);
    waiter.reject(new TaskFailureError(error ?? 'States.TaskFailed', cause ?? ''));
  }

  /** Throws InvalidToken / TaskDoesNotExist unless the token is awaited. */
  check(token: string): void {
    this.#waiters.set(token, this.#take(token));
  }

  /** Rejects and forgets every token of an execution (it was stopped or abandoned). */
  dropExecution(executionArn: string, reason: Error): void {
    for (const [token, waiter] of this.#waiters) {
      if (waiter.executionArn !== executionArn) continue;
      this.#waiters.delete(token);
      waiter.reject(reason);
    }
  }

  /** Tokens waiting now (for diagnostics and tests). */
  pending(): Array<{ executionArn: string; stateName: string }> {
    return [...this.#waiters.values()].map(({ executionArn, stateName }) => ({ executionArn, stateName }));
  }

  #take(token: string): Waiter {
    if (!TOKEN_PATTERN.test(token)) throw new WorkflowServiceError('InvalidToken', 'Invalid Token');
    const waiter = this.#waiters.get(token);
    if (waiter === undefined) {
      throw new WorkflowServiceError('TaskDoesNotExist', 'Task does not exist anymore (or never did)');
    }
    this.#waiters.delete(token);
    return waiter;
  }
}
