import { isTransientSdkError } from '#adapters/sdk-errors.ts';
import type { ErrorBody } from '#core/api/common.ts';
import { type ErrorKind, GluonError, ValidationError } from '#core/errors.ts';

/** The one place where an error kind becomes an HTTP status. */
export const STATUS_BY_KIND: Record<ErrorKind, number> = {
  invalid: 400,
  unauthorized: 401,
  forbidden: 403,
  'not-found': 404,
  conflict: 409,
  gone: 410,
  transient: 503,
  fatal: 500,
};

export function errorResponse(error: unknown): { statusCode: number; body: ErrorBody; internal: boolean } {
  if (error instanceof GluonError) {
    const statusCode = STATUS_BY_KIND[error.kind];
    const internal = statusCode >= 500 && error.kind !== 'transient';
    const body: ErrorBody = {
      error: {
        code: error.code,
        message: internal ? 'internal error' : error.message,
        ...(error instanceof ValidationError ? { issues: error.issues } : {}),
      },
    };
    return { statusCode, body, internal };
  }
  if (isTransientSdkError(error)) {
    // A service that stalled or throttled, reaching here untranslated: the caller should try again.
    return {
      statusCode: 503,
      body: { error: { code: 'TRANSIENT', message: 'a service did not answer in time; try again' } },
      internal: false,
    };
  }
  return {
    statusCode: 500,
    body: { error: { code: 'INTERNAL', message: 'internal error' } },
    internal: true,
  };
}
