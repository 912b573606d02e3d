/**
 * The typed client of the Gluon API, the only one: the CLI, the pilot, the pilot factory, the
 * demo, the benchmark and the tests all call the API through it. Requests and answers are the
 * zod schemas of core/api/operations.ts (answers are checked, so a drift between server and client
 * is an error at once). Bearer token, per-request timeout, retries with jittered backoff on
 * network errors, 429 and 5xx (honouring Retry-After) for the operations that are safe to repeat,
 * error bodies turned into an ApiRequestError carrying the stable code.
 */
import type { z } from 'zod';
import type { ErrorBody } from '#core/api/common.ts';
import { OPERATIONS, type OperationId, type Operations, type ResponseOf } from '#core/api/operations.ts';
import type { FieldIssue } from '#core/errors.ts';
import { type Logger, silentLogger } from '#platform/logger.ts';
import { sleep } from '#platform/sleep.ts';

/** An HTTP error answer from the API (after retries, for retryable statuses). */
export class ApiRequestError extends Error {
  override readonly name = 'ApiRequestError';
  readonly status: number;
  /** The stable error code of the answer (INVALID_INPUT, NOT_FOUND, PILOT_GONE, …). */
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

/** An answer that does not match the operation's schema (a server of another version?). */
export class ApiResponseError extends Error {
  override readonly name = 'ApiResponseError';
}

export interface GluonClientOptions {
  /** Base URL of the API, e.g. `http://127.0.0.1:8642` (a path prefix such as a stage is kept). */
  baseUrl: string;
  token?: string;
  /** Timeout of one HTTP request (default 15 s). */
  timeoutMs?: number;
  /** Retries after the first try, for operations safe to repeat (default 4). */
  retries?: number;
  /** First backoff delay; doubles on each retry, with jitter, up to maxBackoffMs. */
  backoffMs?: number;
  maxBackoffMs?: number;
  logger?: Logger;
  fetch?: typeof fetch;
}

export interface CallOptions {
  /** Overrides the client's retry count for this call. */
  retries?: number;
  /** Stops waiting (and retrying) when aborted. */
  signal?: AbortSignal;
}

type Input<S> = S extends z.ZodType ? z.input<S> : never;
type ParamsOf<K extends OperationId> = Operations[K] extends { params: infer P } ? Input<P> : undefined;
type QueryOf<K extends OperationId> = Operations[K] extends { query: infer Q }
  ? Partial<Input<Q>>
  : undefined;
type BodyOf<K extends OperationId> = Operations[K] extends { body: infer B } ? Input<B> : undefined;
type HeadersOf<K extends OperationId> = Operations[K] extends { headers: infer H } ? Input<H> : undefined;

export type CallInput<K extends OperationId> = (ParamsOf<K> extends undefined
  ? { params?: undefined }
  : { params: ParamsOf<K> }) &
  (QueryOf<K> extends undefined ? { query?: undefined } : { query?: QueryOf<K> }) &
  (BodyOf<K> extends undefined ? { body?: undefined } : { body: BodyOf<K> }) &
  (HeadersOf<K> extends undefined ? { headers?: undefined } : { headers?: HeadersOf<K> });

/** The header that makes a write safe to send again (POST /tasks reads it). */
export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';

/**
 * The wait before retry `attempt` (0 for the first retry): exponential from `baseMs`, capped at
 * `maxMs`, with "equal jitter" (a random point in the upper half) so that clients failed by the
 * same outage do not come back in step. A server's Retry-After, when given, wins (capped at 60 s).
 */
export function retryDelayMs(
  attempt: number,
  options: { baseMs: number; maxMs: number; retryAfterMs?: number },
  random: () => number = Math.random,
): number {
  if (options.retryAfterMs !== undefined) return options.retryAfterMs;
  const backoff = Math.min(options.maxMs, options.baseMs * 2 ** attempt);
  return Math.round(backoff * (0.5 + random() / 2));
}

/** Longest wait a Retry-After may ask for before the client gives up waiting on it. */
const MAX_RETRY_AFTER_MS = 60_000;

/** Retry-After as milliseconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3); undefined if neither. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const text = value.trim();
  // An IMF-fixdate starts with the day's name; V8's Date.parse alone would take "-1" for a date.
  const ms = /^\d+$/.test(text)
    ? Number(text) * 1000
    : /^[A-Za-z]{3}, /.test(text)
      ? Date.parse(text) - now
      : Number.NaN;
  if (!Number.isFinite(ms)) return undefined;
  return Math.min(Math.max(ms, 0), MAX_RETRY_AFTER_MS);
}

/**
 * Operations a client may send again when the answer was lost: reads, and writes the server
 * makes idempotent (claims, reports and cancels are fenced; a pilot's registration is not: a retry
 * would make a second one). A task's submission is repeatable only with an idempotency key.
 */
const REPEATABLE: ReadonlySet<OperationId> = new Set<OperationId>([
  'claimJob',
  'completeJob',
  'cancelTask',
  'renewPilotCredentials',
  'putSite',
  'createSandbox',
  // Registering the same files again registers and attaches nothing twice.
  'registerFiles',
]);

/** Calls per operation sent by this process, retries included (the pilot reports them when it exits). */
const calls = new Map<OperationId, number>();

export function apiCallCounts(): Record<string, number> {
  return Object.fromEntries([...calls].sort(([a], [b]) => a.localeCompare(b)));
}

/** A raw answer, for tests that send what no typed call would. */
export interface RawResponse<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
}

export class GluonClient {
  readonly baseUrl: string;
  private readonly token: string | undefined;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly logger: Logger;
  private readonly fetch: typeof fetch;

  constructor(options: GluonClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.token = options.token;
    this.timeoutMs = options.timeoutMs ?? 15_000;
    this.retries = options.retries ?? 4;
    this.backoffMs = options.backoffMs ?? 500;
    this.maxBackoffMs = options.maxBackoffMs ?? 10_000;
    this.logger = options.logger ?? silentLogger;
    this.fetch = options.fetch ?? fetch;
  }

  /** A client like this one with another token. */
  withToken(token: string | undefined): GluonClient {
    return new GluonClient({
      baseUrl: this.baseUrl,
      ...(token === undefined ? {} : { token }),
      timeoutMs: this.timeoutMs,
      retries: this.retries,
      backoffMs: this.backoffMs,
      maxBackoffMs: this.maxBackoffMs,
      logger: this.logger,
      fetch: this.fetch,
    });
  }

  /** Calls one operation; the answer is checked against its schema. */
  async call<K extends OperationId>(
    id: K,
    input: CallInput<K>,
    options: CallOptions = {},
  ): Promise<ResponseOf<K>> {
    const operation = OPERATIONS[id];
    const what = `${operation.method} ${operation.path}`;
    const path = this.pathOf(operation.path, (input.params ?? {}) as Record<string, unknown>);
    const query = queryString((input.query ?? {}) as Record<string, unknown>);
    const body = 'body' in operation ? (input.body ?? {}) : undefined;
    const headers = Object.fromEntries(
      Object.entries((input.headers ?? {}) as Record<string, string | undefined>).filter(
        (entry): entry is [string, string] => entry[1] !== undefined,
      ),
    );
    const repeatable =
      operation.method === 'GET' || REPEATABLE.has(id) || headers[IDEMPOTENCY_KEY_HEADER] !== undefined;
    const retries = options.retries ?? (repeatable ? this.retries : 0);
    for (let attempt = 0; ; attempt++) {
      let failure: Error;
      let retryAfterMs: number | undefined;
      try {
        calls.set(id, (calls.get(id) ?? 0) + 1);
        const answer = await this.send(
          what,
          operation.method,
          `${path}${query}`,
          body,
          headers,
          options.signal,
        );
        const parsed = operation.response.safeParse(answer);
        if (!parsed.success) {
          const issue = parsed.error.issues[0];
          throw new ApiResponseError(
            `${what}: the answer does not match the API (${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'})`,
          );
        }
        return parsed.data as ResponseOf<K>;
      } catch (error) {
        if (options.signal?.aborted || error instanceof ApiResponseError) throw error;
        if (error instanceof ApiRequestError) {
          if (!error.retryable) throw error;
          retryAfterMs = error.retryAfterMs;
        }
        failure = error as Error;
      }
      if (attempt >= retries) {
        if (failure instanceof ApiRequestError) throw failure;
        const tries = `${attempt + 1} ${attempt === 0 ? 'try' : 'tries'}`;
        throw new ApiUnreachableError(`${what}: ${failure.message} (after ${tries})`, { cause: failure });
      }
      const delay = retryDelayMs(attempt, {
        baseMs: this.backoffMs,
        maxMs: this.maxBackoffMs,
        ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      });
      this.logger.warn('API call failed; retrying', { call: what, error: failure, retryInMs: delay });
      await sleep(delay, options.signal);
      if (options.signal?.aborted) throw failure;
    }
  }

  /** Every page of a listing, in order; at most `max` items (no page is asked for past them). */
  async all<K extends 'listTasks' | 'listJobs' | 'listRanges' | 'listPilots'>(
    id: K,
    input: CallInput<K>,
    max = Number.POSITIVE_INFINITY,
  ): Promise<ResponseOf<K>['items']> {
    const items: ResponseOf<K>['items'] = [];
    let nextToken: string | undefined;
    do {
      const query = { ...(input.query ?? {}), ...(nextToken === undefined ? {} : { nextToken }) };
      const page = (await this.call(id, { ...input, query } as CallInput<K>)) as ResponseOf<K>;
      items.push(...(page.items as never[]));
      nextToken = page.nextToken;
    } while (nextToken !== undefined && items.length < max);
    return items.length > max ? items.slice(0, max) : items;
  }

  /** Sends anything (tests of bad input): no retries, no checks; the answer as it came. */
  async raw<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    options: { rawBody?: string; headers?: Record<string, string> } = {},
  ): Promise<RawResponse<T>> {
    const response = await this.fetch(`${this.baseUrl}${path}`, {
      method,
      headers: { ...this.headers(body !== undefined || options.rawBody !== undefined), ...options.headers },
      ...(options.rawBody !== undefined
        ? { body: options.rawBody }
        : body === undefined
          ? {}
          : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, headers: response.headers, body: parsed as T };
  }

  /** PUT of a file to a presigned URL (sandbox uploads). */
  async upload(url: string, body: Uint8Array): Promise<void> {
    const response = await this.fetch(url, {
      method: 'PUT',
      body,
      headers: { 'content-type': 'application/octet-stream' },
      signal: AbortSignal.timeout(this.timeoutMs * 4),
    });
    if (!response.ok) {
      throw new ApiRequestError(
        'upload',
        response.status,
        'UPLOAD_FAILED',
        (await response.text()).slice(0, 300),
      );
    }
  }

  private headers(withBody: boolean): Record<string, string> {
    return {
      accept: 'application/json',
      ...(withBody ? { 'content-type': 'application/json' } : {}),
      ...(this.token === undefined ? {} : { authorization: `Bearer ${this.token}` }),
    };
  }

  private pathOf(template: string, params: Record<string, unknown>): string {
    return template.replace(/\{([A-Za-z]+)\}/g, (_whole, name: string) => {
      const value = params[name];
      if (value === undefined) throw new Error(`path parameter ${name} missing`);
      return encodeURIComponent(String(value));
    });
  }

  private async send(
    what: string,
    method: string,
    path: string,
    body: unknown,
    headers: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<unknown> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const combined = signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
    let response: Response;
    try {
      response = await this.fetch(`${this.baseUrl}${path}`, {
        method,
        headers: { ...this.headers(body !== undefined), ...headers },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
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
      return JSON.parse(text);
    } catch {
      throw new ApiRequestError(what, 502, 'BAD_RESPONSE', `the answer is not JSON: ${text.slice(0, 200)}`);
    }
  }
}

function queryString(query: Record<string, unknown>): string {
  const entries = Object.entries(query).filter(([, v]) => v !== undefined);
  if (entries.length === 0) return '';
  return `?${new URLSearchParams(entries.map(([k, v]): [string, string] => [k, String(v)])).toString()}`;
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
  const retryAfter = parseRetryAfter(response.headers.get('retry-after'));
  if (retryAfter !== undefined) error.retryAfterMs = retryAfter;
  return error;
}
