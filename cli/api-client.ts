/**
 * The CLI's view of the API: the typed Gluon client (client/gluon-client.ts) with the listings the
 * commands need, and its errors turned into CLI errors (exit code 1, the API's message and the
 * fields it named).
 */
import {
  ApiRequestError,
  type CallInput,
  ApiUnreachableError as ClientUnreachableError,
  GluonClient,
} from '#client/gluon-client.ts';
import type { OperationId, ResponseOf } from '#core/api/operations.ts';
import type { JobView, TaskSummary } from '#core/api/tasks.ts';
import type { JobState } from '#core/jobs/job.ts';
import { ApiError, ApiUnreachableError, CliError } from './cli-error.ts';

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
        query: {
          limit: Math.min(MAX_PAGE, limit - tasks.length),
          ...(nextToken === undefined ? {} : { nextToken }),
        },
      });
      tasks.push(...page.items);
      nextToken = page.nextToken;
    } while (nextToken !== undefined && tasks.length < limit);
    return tasks.slice(0, limit);
  }

  /** Every page of a listing; API errors become CLI errors. */
  async all<K extends 'listTasks' | 'listJobs' | 'listRanges' | 'listPilots'>(
    id: K,
    input: CallInput<K>,
    max?: number,
  ): Promise<ResponseOf<K>['items']> {
    try {
      return await this.client.all(id, input, max);
    } catch (error) {
      throw this.translate(error);
    }
  }

  /** PUTs bytes to a presigned URL (no bearer token: the URL carries its own authorisation). */
  async upload(url: string, body: Uint8Array): Promise<void> {
    try {
      await this.client.upload(url, body);
    } catch (error) {
      if (!(error instanceof ApiRequestError)) {
        const cause =
          (error as Error & { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
        throw new CliError(`cannot upload to ${new URL(url).origin}: ${cause}`, { exitCode: 1 });
      }
      const text = serverMessage(error).trim();
      throw new ApiError(
        error.status,
        error.code,
        `upload failed${text === '' ? '' : `: ${text}`} (HTTP ${error.status} ${error.code})`,
      );
    }
  }

  private translate(error: unknown): unknown {
    if (error instanceof ApiRequestError) {
      const message = `${serverMessage(error)} (HTTP ${error.status} ${error.code})${STATUS_HINTS[error.status] ?? ''}`;
      return new ApiError(error.status, error.code, message, error.issues);
    }
    if (error instanceof ClientUnreachableError) return new ApiUnreachableError(this.apiUrl, error);
    return error;
  }
}

const STATUS_HINTS: Record<number, string> = {
  401: ' (the token was refused: restart `npm start` to get a fresh one, or check GLUON_TOKEN)',
  403: ' (the token lacks the scope this needs)',
};

/**
 * The message the server sent, out of the client's `<call> failed with HTTP <status> <code>: <message>
 * (<issues>)`. Validation messages repeat the issues after a colon; the CLI prints them one per line
 * instead, so they are cut off here.
 */
function serverMessage(error: ApiRequestError): string {
  const head = ` failed with HTTP ${error.status} ${error.code}: `;
  const at = error.message.indexOf(head);
  let message = at < 0 ? error.message : error.message.slice(at + head.length);
  const details =
    error.issues.length > 0 ? ` (${error.issues.map((i) => `${i.field}: ${i.message}`).join('; ')})` : '';
  if (details !== '' && message.endsWith(details)) message = message.slice(0, -details.length);
  const first = error.issues[0];
  const cut = first === undefined ? -1 : message.indexOf(`: ${first.field}: `);
  return cut > 0 ? message.slice(0, cut) : message;
}
