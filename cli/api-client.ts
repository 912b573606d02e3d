/**
 * The CLI's view of the API: the typed Gluon client (client/gluon-client.ts) with the listings the
 * commands need, and its errors turned into CLI errors (exit code 1, the API's message and the
 * fields it named).
 */
import {
  ApiRequestError,
  ApiUnreachableError as ClientUnreachableError,
  type CallInput,
  GluonClient,
} from '#client/gluon-client.ts';
import type { OperationId, ResponseOf } from '#core/api/operations.ts';
import type { JobView, TaskSummary } from '#core/api/tasks.ts';
import type { JobState } from '#core/jobs/job.ts';
import { ApiError, ApiUnreachableError } from './cli-error.ts';

export interface ApiClientOptions {
  apiUrl: string;
  token: string;
  /** Per-request timeout. */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

const MAX_PAGE = 1000;

export class ApiClient {
  readonly apiUrl: string;
  readonly client: GluonClient;

  constructor(options: ApiClientOptions) {
    this.apiUrl = options.apiUrl.replace(/\/+$/, '');
    this.client = new GluonClient({
      baseUrl: this.apiUrl,
      token: options.token,
      timeoutMs: options.timeoutMs ?? 30_000,
      retries: 2,
      backoffMs: 300,
      ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
    });
  }

  /** One operation; API errors become CLI errors. */
  async call<K extends OperationId>(id: K, input: CallInput<K>): Promise<ResponseOf<K>> {
    try {
      return await this.client.call(id, input);
    } catch (error) {
      throw this.translate(error);
    }
  }

  /** Every job of a task (or the first `limit`), page after page. */
  async listAllJobs(taskId: string, query: { state?: JobState; limit?: number } = {}): Promise<JobView[]> {
    const jobs: JobView[] = [];
    let nextToken: string | undefined;
    do {
      const want = query.limit === undefined ? MAX_PAGE : Math.min(MAX_PAGE, query.limit - jobs.length);
      const page = await this.call('listJobs', {
        params: { taskId },
        query: {
          limit: want,
          ...(query.state === undefined ? {} : { state: query.state }),
          ...(nextToken === undefined ? {} : { nextToken }),
        },
      });
      jobs.push(...page.items);
      nextToken = page.nextToken;
    } while (nextToken !== undefined && (query.limit === undefined || jobs.length < query.limit));
    return query.limit === undefined ? jobs : jobs.slice(0, query.limit);
  }

  /** Tasks, newest first, up to `limit`. */
  async listAllTasks(limit: number): Promise<TaskSummary[]> {
    const tasks: TaskSummary[] = [];
    let nextToken: string | undefined;
    do {
      const page = await this.call('listTasks', {
        query: { limit: Math.min(MAX_PAGE, limit - tasks.length), ...(nextToken === undefined ? {} : { nextToken }) },
      });
      tasks.push(...page.items);
      nextToken = page.nextToken;
    } while (nextToken !== undefined && tasks.length < limit);
    return tasks.slice(0, limit);
  }

  /** PUTs bytes to a presigned URL (no bearer token: the URL carries its own authorisation). */
  async upload(url: string, body: Uint8Array): Promise<void> {
    try {
      await this.client.upload(url, body);
    } catch (error) {
      throw this.translate(error);
    }
  }

  private translate(error: unknown): unknown {
    if (error instanceof ApiRequestError) {
      const message = error.message.replace(/^.* failed with HTTP \d+ [A-Z_]+: /, '').replace(/ \(.*\)$/, '');
      return new ApiError(error.status, error.code, `${message} (HTTP ${error.status} ${error.code})`, error.issues);
    }
    if (error instanceof ClientUnreachableError) return new ApiUnreachableError(this.apiUrl, error);
    return error;
  }
}
