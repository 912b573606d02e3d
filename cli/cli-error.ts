import type { FieldIssue } from '#core/errors.ts';

/**
 * An error the CLI reports to the user as it is: a message, optional field issues, and the exit
 * code the process ends with (2 for bad usage or local input, 1 for failures of the API or a task).
 */
export class CliError extends Error {
  override readonly name: string = 'CliError';
  readonly exitCode: number;
  readonly issues: FieldIssue[];
  constructor(message: string, options: { exitCode?: number; issues?: FieldIssue[] } = {}) {
    super(message);
    this.exitCode = options.exitCode ?? 1;
    this.issues = options.issues ?? [];
  }
}

/** The API answered with an error status and (usually) the `{error:{code,message,issues}}` body. */
export class ApiError extends CliError {
  override readonly name = 'ApiError';
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string, issues: FieldIssue[] = []) {
    super(message, { exitCode: 1, issues });
    this.status = status;
    this.code = code;
  }
}

/** No answer at all from the API (connection refused, DNS, reset). */
export class ApiUnreachableError extends CliError {
  override readonly name = 'ApiUnreachableError';
  readonly apiUrl: string;
  constructor(apiUrl: string, cause?: unknown) {
    super(`cannot reach the Gluon API at ${apiUrl} (is \`npm start\` running?)`, { exitCode: 1 });
    this.apiUrl = apiUrl;
    if (cause !== undefined) this.cause = cause;
  }
}
