import type {
  ErrorBody,
  JobView,
  Page,
  SandboxRequest,
  SandboxResponse,
  SiteView,
  SubmitTaskResponse,
  TaskSummary,
  TaskView,
} from '#core/api/contract.ts';
import type { FieldIssue } from '#core/errors.ts';
import type { JobState } from '#core/jobs/job.ts';
import type { Pilot } from '#core/pilots/pilot.ts';
import type { TaskExplanation } from '#core/tasks/explain-task.ts';
import type { TaskSpec } from '#core/tasks/task-spec.ts';
import { ApiError, ApiUnreachableError } from './cli-error.ts';

export interface ApiClientOptions {
  apiUrl: string;
  token: string;
  /** Per-request timeout. */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export interface JobsQuery {
  state?: JobState;
  limit?: number;
  nextToken?: string;
}

/** Answer of `POST /tasks/{id}/cancel`; the server may send the whole task view. */
export type CancelTaskResponse = Partial<TaskView> & { taskId?: string; state?: string };

const MAX_PAGE = 1000;

/** A thin HTTP client for the Gluon API: JSON in and out, bearer token, errors as ApiError. */
export class ApiClient {
  readonly apiUrl: string;
  readonly #token: string;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;

  constructor(options: ApiClientOptions) {
    this.apiUrl = options.apiUrl.replace(/\/+$/, '');
    this.#token = options.token;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#fetch = options.fetch ?? fetch;
  }

  submitTask(spec: TaskSpec): Promise<SubmitTaskResponse> {
    return this.request('POST', '/tasks', spec);
  }

  getTask(taskId: string): Promise<TaskView> {
    return this.request('GET', `/tasks/${encodeURIComponent(taskId)}`);
  }

  async listTasks(query: { limit?: number; nextToken?: string } = {}): Promise<Page<TaskSummary>> {
    return asPage<TaskSummary>(await this.request('GET', `/tasks${queryString(query)}`), 'tasks');
  }

  async listJobs(taskId: string, query: JobsQuery = {}): Promise<Page<JobView>> {
    const body = await this.request('GET', `/tasks/${encodeURIComponent(taskId)}/jobs${queryString(query)}`);
    return asPage<JobView>(body, 'jobs');
  }

  /** Every job of a task (or the first `limit`), following `nextToken` page after page. */
  async listAllJobs(taskId: string, query: { state?: JobState; limit?: number } = {}): Promise<JobView[]> {
    const jobs: JobView[] = [];
    let nextToken: string | undefined;
    do {
      const want = query.limit === undefined ? MAX_PAGE : Math.min(MAX_PAGE, query.limit - jobs.length);
      const page = await this.listJobs(taskId, { state: query.state, limit: want, nextToken });
      jobs.push(...page.items);
      nextToken = page.nextToken;
    } while (nextToken !== undefined && (query.limit === undefined || jobs.length < query.limit));
    return query.limit === undefined ? jobs : jobs.slice(0, query.limit);
  }

  /** Tasks, newest pages first as the server orders them, up to `limit`. */
  async listAllTasks(limit: number): Promise<TaskSummary[]> {
    const tasks: TaskSummary[] = [];
    let nextToken: string | undefined;
    do {
      const page = await this.listTasks({ limit: Math.min(MAX_PAGE, limit - tasks.length), nextToken });
      tasks.push(...page.items);
      nextToken = page.nextToken;
    } while (nextToken !== undefined && tasks.length < limit);
    return tasks.slice(0, limit);
  }

  /** Every pilot the API knows, following `nextToken`. */
  async explainTask(taskId: string): Promise<TaskExplanation> {
    return this.request<TaskExplanation>('GET', `/tasks/${encodeURIComponent(taskId)}/why`);
  }

  async listSites(): Promise<SiteView[]> {
    const body = await this.request<{ sites: SiteView[] }>('GET', '/sites');
    return body.sites;
  }

  async putSite(siteId: string, site: Record<string, unknown>): Promise<SiteView> {
    return this.request<SiteView>('PUT', `/sites/${encodeURIComponent(siteId)}`, site);
  }

  async listPilots(): Promise<Pilot[]> {
    const pilots: Pilot[] = [];
    let nextToken: string | undefined;
    do {
      const body = await this.request('GET', `/pilots${queryString({ limit: MAX_PAGE, nextToken })}`);
      const page = asPage<Pilot>(body, 'pilots');
      pilots.push(...page.items);
      nextToken = page.nextToken;
    } while (nextToken !== undefined);
    return pilots;
  }

  cancelTask(taskId: string): Promise<CancelTaskResponse> {
    return this.request('POST', `/tasks/${encodeURIComponent(taskId)}/cancel`, {});
  }

  createSandbox(request: SandboxRequest): Promise<SandboxResponse> {
    return this.request('POST', '/sandboxes', request);
  }

  /** PUTs bytes to a presigned URL (no bearer token: the URL carries its own authorisation). */
  async upload(url: string, body: Uint8Array): Promise<void> {
    const response = await this.#send(url, {
      method: 'PUT',
      body,
      headers: { 'content-length': String(body.length) },
    });
    if (!response.ok) {
      const text = await response.text().catch(() => '');
      throw new ApiError(
        response.status,
        'UPLOAD_FAILED',
        `upload failed with HTTP ${response.status} ${text.slice(0, 300)}`.trim(),
      );
    }
  }

  async request<T>(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.#token}`,
      accept: 'application/json',
    };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await this.#send(`${this.apiUrl}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw errorFromResponse(response.status, text);
    if (text === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiError(
        response.status,
        'BAD_RESPONSE',
        `the API sent something that is not JSON: ${text.slice(0, 200)}`,
      );
    }
  }

  async #send(url: string, init: RequestInit): Promise<Response> {
    try {
      return await this.#fetch(url, { ...init, signal: AbortSignal.timeout(this.#timeoutMs) });
    } catch (error) {
      if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
        throw new ApiError(
          0,
          'TIMEOUT',
          `no answer from the Gluon API at ${this.apiUrl} within ${this.#timeoutMs / 1000} s`,
        );
      }
      throw new ApiUnreachableError(this.apiUrl, error);
    }
  }
}

/**
 * A page of a list: `{items, nextToken}` (core/api.ts Page) or named after what it holds
 * (`{tasks|jobs|pilots, nextToken}`, as the handlers answer).
 */
export function asPage<T>(body: unknown, key: 'tasks' | 'jobs' | 'pilots'): Page<T> {
  const record = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const items = Array.isArray(record.items)
    ? record.items
    : Array.isArray(record[key])
      ? record[key]
      : undefined;
  if (items === undefined) {
    throw new ApiError(200, 'BAD_RESPONSE', `the API answered without a list of ${key}`);
  }
  const nextToken =
    typeof record.nextToken === 'string' && record.nextToken !== '' ? record.nextToken : undefined;
  return nextToken === undefined ? { items: items as T[] } : { items: items as T[], nextToken };
}

function queryString(query: object): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query) as Array<[string, unknown]>) {
    if (value !== undefined) params.set(key, String(value));
  }
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
}

const STATUS_HINTS: Record<number, string> = {
  401: ' (the token was refused: restart `npm start` to get a fresh one, or check GLUON_TOKEN)',
  403: ' (the token lacks the scope this needs)',
};

/** Turns an error response into an ApiError, reading the `{error:{code,message,issues}}` body when there is one. */
export function errorFromResponse(status: number, text: string): ApiError {
  let body: Partial<ErrorBody> | undefined;
  try {
    body = JSON.parse(text) as Partial<ErrorBody>;
  } catch {
    body = undefined;
  }
  const error = body?.error;
  if (error !== undefined && typeof error === 'object' && typeof error.message === 'string') {
    const issues: FieldIssue[] = Array.isArray(error.issues)
      ? error.issues.map((i) => ({ field: String(i.field), message: String(i.message) }))
      : [];
    // Validation messages repeat the issues after a colon; they are printed one per line instead.
    const first = issues[0];
    const cut = first === undefined ? -1 : error.message.indexOf(`: ${first.field}: `);
    const message = cut > 0 ? error.message.slice(0, cut) : error.message;
    return new ApiError(
      status,
      String(error.code ?? 'ERROR'),
      `${message}${STATUS_HINTS[status] ?? ''}`,
      issues,
    );
  }
  const snippet = text.trim().slice(0, 200);
  return new ApiError(
    status,
    'HTTP_ERROR',
    `HTTP ${status}${snippet ? `: ${snippet}` : ''}${STATUS_HINTS[status] ?? ''}`,
  );
}
