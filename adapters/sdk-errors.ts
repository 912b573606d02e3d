/**
 * Translation of AWS SDK errors, shared by the adapters: transient failures (throttling, service
 * faults, lost connections) become TransientError; domain errors pass through; anything else is a
 * programming or configuration error and is rethrown as it is.
 */
import { GluonError, TransientError } from '#core/errors.ts';

const TRANSIENT_NAMES = new Set([
  'ThrottlingException',
  'Throttling',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'KmsThrottled',
  'KmsThrottlingException',
  'ExecutionLimitExceeded',
  'SlowDown',
  'InternalServerError',
  'InternalFailure',
  'InternalError',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'TransactionConflictException',
  'TransactionInProgressException',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
]);

const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENOTFOUND',
]);

interface SdkErrorShape {
  name?: string;
  code?: string;
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: number };
}

export function errorName(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null ? (error as SdkErrorShape).name : undefined;
}

/** DynamoDB (and other services) refusing a request for throughput: what an operator must see. */
const THROTTLE_NAMES = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
]);

export function isThrottleError(error: unknown): boolean {
  const name = errorName(error);
  return name !== undefined && THROTTLE_NAMES.has(name);
}

export function isTransientSdkError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null || error instanceof GluonError) return false;
  const e = error as SdkErrorShape;
  if (e.name !== undefined && TRANSIENT_NAMES.has(e.name)) return true;
  if (e.code !== undefined && TRANSIENT_CODES.has(e.code)) return true;
  if (e.$retryable !== undefined) return true;
  const status = e.$metadata?.httpStatusCode;
  return status !== undefined && status >= 500;
}

/** Rethrows `error` translated: TransientError for transient SDK failures, as-is otherwise. */
export function rethrowSdkError(error: unknown, what: string): never {
  if (isTransientSdkError(error)) {
    throw new TransientError(`${what}: ${(error as Error).message || errorName(error)}`, { cause: error });
  }
  throw error;
}

/**
 * As rethrowSdkError, but a refusal (UnauthorizedOperation, ClientException, …) becomes an Error
 * whose message names the call and the service's error code: what the cloud provisioner's
 * decisions show people.
 */
export function rethrowNamedSdkError(error: unknown, what: string): never {
  if (isTransientSdkError(error)) rethrowSdkError(error, what);
  const message = error instanceof Error ? error.message : String(error);
  throw new Error(`${what}: ${errorName(error) ?? 'Error'}: ${message}`, { cause: error });
}
