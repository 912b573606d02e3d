/**
 * One error base class for the whole system. `kind` decides the transport outcome (HTTP status,
 * Step Functions Retry/Catch) in exactly one place per transport; `name` is a literal so that
 * minified bundles and Step Functions error matching keep working.
 */
export type ErrorKind =
  | 'invalid'
  | 'unauthorized'
  | 'forbidden'
  | 'not-found'
  | 'conflict'
  | 'gone'
  | 'transient'
  | 'fatal';

export interface FieldIssue {
  /** Dotted path of the offending field, e.g. `resources.memoryMB` or `body.taskId`. */
  field: string;
  message: string;
}

export abstract class GluonError extends Error {
  abstract readonly kind: ErrorKind;
  abstract readonly code: string;
}

export class ValidationError extends GluonError {
  override readonly name = 'ValidationError';
  readonly kind = 'invalid';
  readonly code = 'INVALID_INPUT';
  readonly issues: FieldIssue[];
  constructor(what: string, issues: FieldIssue[]) {
    super(`${what}: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`);
    this.issues = issues;
  }
}

export class UnauthorizedError extends GluonError {
  override readonly name = 'UnauthorizedError';
  readonly kind = 'unauthorized';
  readonly code = 'UNAUTHORIZED';
}

export class ForbiddenError extends GluonError {
  override readonly name = 'ForbiddenError';
  readonly kind = 'forbidden';
  readonly code = 'FORBIDDEN';
}

export class NotFoundError extends GluonError {
  override readonly name = 'NotFoundError';
  readonly kind = 'not-found';
  readonly code = 'NOT_FOUND';
}

export class ConflictError extends GluonError {
  override readonly name = 'ConflictError';
  readonly kind = 'conflict';
  readonly code = 'CONFLICT';
}

/**
 * The pilot is unknown or no longer live (its lease expired, it exited, it was unhealthy): it
 * must stop what it holds and register again. Pilots act on this code, never on a status alone.
 */
export class PilotGoneError extends GluonError {
  override readonly name = 'PilotGoneError';
  readonly kind = 'gone';
  readonly code = 'PILOT_GONE';
}

/** A service did not answer in time (or throttled): try again; HTTP answers 503 with Retry-After. */
export class TransientError extends GluonError {
  override readonly name = 'TransientError';
  readonly kind = 'transient';
  readonly code = 'TRANSIENT';
}

/** No site can run the task's jobs (brokerage found no candidate). Step Functions catches it by name. */
export class NoSiteError extends GluonError {
  override readonly name = 'NoSiteError';
  readonly kind = 'fatal';
  readonly code = 'NO_SITE';
}

export class FatalError extends GluonError {
  override readonly name = 'FatalError';
  readonly kind = 'fatal';
  readonly code = 'FATAL';
}

/** Turns zod issues into field issues with dotted paths, optionally under a prefix (`body`, `spec`). */
export function fieldIssues(
  issues: ReadonlyArray<{
    path: ReadonlyArray<PropertyKey>;
    message: string;
    code?: string;
    keys?: readonly string[];
  }>,
  prefix?: string,
): FieldIssue[] {
  const named = (path: ReadonlyArray<PropertyKey>, message: string): FieldIssue => {
    const field = [prefix, path.map(String).join('.')].filter((p) => p !== undefined && p !== '').join('.');
    return { field: field === '' ? '(root)' : field, message };
  };
  return issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys' && issue.keys !== undefined
      ? issue.keys.map((key) => named([...issue.path, key], 'unknown field'))
      : [named(issue.path, issue.message)],
  );
}
