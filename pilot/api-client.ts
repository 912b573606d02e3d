/**
 * The pilot's HTTP client for the Gluon API (pilot routes of lambdas/routes.ts): bearer token,
 * per-request timeout, retries with backoff on network errors, 5xx and 429 (never on other 4xx),
 * and error bodies turned into a clear ApiRequestError.
 */
import type {
  ClaimRequest,
  ClaimResponse,
  CompleteRequest,
  CompleteResponse,
  ErrorBody,
  HeartbeatRequest,
  HeartbeatResponse,
  PilotCredentials,
  RegisterPilotResponse,
} from '#core/api/contract.ts';
import type { FieldIssue } from '#core/errors.ts';
import type { PilotRegistration } from '#core/pilots/pilot.ts';
import { type Logger, silentLogger } from './logger.ts';
import { countApiRequest } from './request-counter.ts';
import { sleep } from './sleep.ts';

/** An HTTP error answer from the API (after retries, for retryable statuses). */
export class ApiRequestError extends Error {
  override readonly name = 'ApiRequestError';
  readonly status: number;
  readonly code: string;
  readonly issues: FieldIssue[];
  /** From a Retry-After header, when the server sent one. */
  retryAfterMs?: number;

  constructor(what: string, status: number, code: string, message: string, issues: FieldIssue[] = []) {
    const details = issues.length > 0 ? ` (${issues.map((i) => `${i.field}: ${i.message}`).join('; ')})` : '';
    super(`${what} failed with HTTP ${status} ${code}: ${message}${details}`);
    this.status = status;
    this.code = code;
    this.issues = issues;
  }

  /** Server-side trouble or throttling: worth another try. */
  get retryable(): boolean {
    return this.status >= 500 || this.status === 429;
  }
}

/** The API could not be reached (network error or timeout), after retries. */
export class ApiUnreachableError extends Error {
  override readonly name = 'ApiUnreachableError';
}

export interface ApiClientOptions {
  /** Base URL of the API, e.g. `http://127.0.0.1:8080` (a path prefix such as a stage is kept). */
  baseUrl: string;
  token: string;
  /** Timeout of one HTTP request. */
  timeoutMs?: number;
  /** Retries after the first try (network errors, 5xx, 429). */
  retries?: number;
  /** First backoff delay; doubles on each retry, with jitter, up to maxBackoffMs. */
  backoffMs?: number;
  maxBackoffMs?: number;
  logger?: Logger;
}

export interface CallOptions {
  /** Overrides the client's retry count for this call. */
  retries?: number;
  /** Stops waiting (and retrying) when aborted. */
  signal?: AbortSignal;
}

export type RegisterPilotRequest = Omit<PilotRegistration, 'version'> & { version?: string };

export class ApiClient {
  private readonly baseUrl: string;
  private readonly token: string;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly logger: Logger;

  constructor(options: ApiClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.token = options.token;
    this.timeoutMs = options.timeoutMs ?? 15_000;
    this.retries = options.retries ?? 4;
    this.backoffMs = options.backoffMs ?? 500;
    this.maxBackoffMs = options.maxBackoffMs ?? 10_000;
    this.logger = options.logger ?? silentLogger;
  }

  register(body: RegisterPilotRequest, options?: CallOptions): Promise<RegisterPilotResponse> {
    return this.post('/pilots', body, options);
  }

  claim(pilotId: string, body: ClaimRequest, options?: CallOptions): Promise<ClaimResponse> {
    return this.post(`/pilots/${encodeURIComponent(pilotId)}/claim`, body, options);
  }

  heartbeat(pilotId: string, body: HeartbeatRequest, options?: CallOptions): Promise<HeartbeatResponse> {
    return this.post(`/pilots/${encodeURIComponent(pilotId)}/heartbeat`, body, options);
  }

  /** Reports the end of an attempt; idempotent on the server, so safe to retry. */
  complete(pilotId: string, body: CompleteRequest, options?: CallOptions): Promise<CompleteResponse> {
    return this.post(`/pilots/${encodeURIComponent(pilotId)}/complete`, body, options);
  }

  /** Asks for fresh AWS credentials (vended credentials only). */
  renewCredentials(pilotId: string, options?: CallOptions): Promise<PilotCredentials> {
    return this.post(`/pilots/${encodeURIComponent(pilotId)}/credentials`, {}, options);
  }

  private async post<T>(path: string, body: unknown, options: CallOptions = {}): Promise<T> {
    const what = `POST ${path}`;
    const retries = options.retries ?? this.retries;
    for (let attempt = 0; ; attempt++) {
      let failure: Error;
      let retryAfterMs: number | undefined;
      try {
        return await this.send<T>(what, path, body, options.signal);
      } catch (error) {
        if (options.signal?.aborted) throw error;
        if (error instanceof ApiRequestError) {
          if (!error.retryable) throw error;
          retryAfterMs = error.retryAfterMs;
        }
        failure = error as Error;
      }
      if (attempt >= retries) {
        if (failure instanceof ApiRequestError) throw failure;
        throw new ApiUnreachableError(`${what}: ${failure.message} (after ${attempt + 1} tries)`, {
          cause: failure,
        });
      }
      const backoff = Math.min(this.maxBackoffMs, this.backoffMs * 2 ** attempt);
      const delay = retryAfterMs ?? Math.round(backoff * (0.5 + Math.random() / 2));
      this.logger.warn('API call failed; retrying', { call: what, error: failure, retryInMs: delay });
      await sleep(delay, options.signal);
      if (options.signal?.aborted) throw failure;
    }
  }

  private async send<T>(what: string, path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const combined = signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
    let response: Response;
    countApiRequest('POST', path);
    try {
      response = await fetch(`${this.baseUrl}${path}`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${this.token}`,
          'content-type': 'application/json',
          accept: 'application/json',
        },
        body: JSON.stringify(body),
        signal: combined,
      });
    } catch (error) {
      if (timeout.aborted && !signal?.aborted) throw new Error(`no answer within ${this.timeoutMs} ms`);
      const cause = (error as Error & { cause?: { code?: string; message?: string } }).cause;
      throw new Error(cause?.code ?? cause?.message ?? (error as Error).message);
    }
    const text = await response.text();
    if (!response.ok) throw errorFromResponse(what, response, text);
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiRequestError(what, 502, 'BAD_RESPONSE', `the answer is not JSON: ${text.slice(0, 200)}`);
    }
  }
}

function errorFromResponse(what: string, response: Response, text: string): ApiRequestError {
  let error: ApiRequestError;
  try {
    const parsed = JSON.parse(text) as Partial<ErrorBody>;
    const body = parsed.error;
    if (body === undefined || typeof body.message !== 'string') throw new Error('not an error body');
    error = new ApiRequestError(
      what,
      response.status,
      typeof body.code === 'string' ? body.code : 'ERROR',
      body.message,
      Array.isArray(body.issues) ? body.issues : [],
    );
  } catch {
    const snippet = text.trim().slice(0, 200);
    error = new ApiRequestError(
      what,
      response.status,
      'HTTP_ERROR',
      snippet === '' ? response.statusText : snippet,
    );
  }
  const retryAfter = Number(response.headers.get('retry-after'));
  if (Number.isFinite(retryAfter) && retryAfter > 0) {
    error.retryAfterMs = Math.min(retryAfter * 1000, 60_000);
  }
  return error;
}
