/**
 * The typed client's promises about the wire, against a real HTTP server on 127.0.0.1 that each
 * test scripts answer by answer: what is retried (network errors, timeouts, 429 and 5xx, for
 * operations safe to repeat, and submissions with an idempotency key) and what is not (4xx, answers
 * that do not match the API, submissions without a key),
 * how long it waits (Retry-After, else jittered exponential backoff), what it throws, and that an
 * abort ends a wait. Backoffs are a few milliseconds; tests wait on requests, never on the clock.
 */
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ApiRequestError,
  ApiResponseError,
  ApiUnreachableError,
  apiCallCounts,
  GluonClient,
  type GluonClientOptions,
} from '#client/gluon-client.ts';
import type { ErrorBody } from '#core/api/common.ts';
import type { JobView } from '#core/api/tasks.ts';
import type { FieldIssue } from '#core/errors.ts';
import type { LogFields, Logger } from '#platform/logger.ts';

const TOKEN = 'test-token';
const TASK_ID = 't-0123456789ab';
const PILOT_ID = 'p-abcdef1234';

interface Seen {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: string;
}

/** How the server answers one request. */
type Reply = (res: ServerResponse, request: Seen) => void;

function json(status: number, body: unknown, headers: Record<string, string> = {}): Reply {
  return (res) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
}

function refusal(
  status: number,
  code: string,
  message: string,
  options: { issues?: FieldIssue[]; headers?: Record<string, string> } = {},
): Reply {
  const body: ErrorBody = {
    error: { code, message, ...(options.issues === undefined ? {} : { issues: options.issues }) },
  };
  return json(status, body, options.headers);
}

function text(status: number, body: string): Reply {
  return (res) => {
    res.writeHead(status, { 'content-type': 'text/html' });
    res.end(body);
  };
}

/** Never answers (the connection stays open until the server stops). */
const silence: Reply = () => {};

/** A server answering its n-th request with the n-th reply (the last one repeats); every request recorded. */
class ScriptedApi {
  readonly requests: Seen[] = [];
  url = '';
  readonly #replies: Reply[];
  readonly #waiters: Array<{ count: number; resolve: () => void }> = [];
  #server: Server | undefined;

  constructor(replies: Reply[]) {
    this.#replies = replies;
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://127.0.0.1');
        const seen: Seen = {
          method: req.method ?? '',
          path: url.pathname,
          query: url.searchParams,
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        };
        this.requests.push(seen);
        const reply = this.#replies[Math.min(this.requests.length, this.#replies.length) - 1] ?? silence;
        reply(res, seen);
        for (const waiter of this.#waiters.filter((w) => this.requests.length >= w.count)) waiter.resolve();
      });
    });
    this.#server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this;
  }

  /** Resolves once `count` requests have come in. */
  received(count: number): Promise<void> {
    if (this.requests.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ count, resolve }));
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

const started: ScriptedApi[] = [];

afterEach(async () => {
  await Promise.all(started.splice(0).map((api) => api.stop()));
});

async function scripted(...replies: Reply[]): Promise<ScriptedApi> {
  const api = await new ScriptedApi(replies).start();
  started.push(api);
  return api;
}

/** A logger keeping the client's warnings; `onWarn` is told of each one. */
function recordingLogger(onWarn: (fields: LogFields) => void = () => {}): Logger & { warnings: LogFields[] } {
  const warnings: LogFields[] = [];
  const logger = {
    warnings,
    debug: () => {},
    info: () => {},
    warn: (_message: string, fields: LogFields = {}) => {
      warnings.push(fields);
      onWarn(fields);
    },
    error: () => {},
    child: () => logger,
  };
  return logger;
}

function clientOf(api: { url: string }, options: Partial<GluonClientOptions> = {}): GluonClient {
  return new GluonClient({
    baseUrl: api.url,
    token: TOKEN,
    timeoutMs: 5_000,
    retries: 2,
    backoffMs: 1,
    maxBackoffMs: 4,
    ...options,
  });
}

/** The rejection of `promise` (the test fails if it resolves). */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the call to fail');
}

function jobView(jobIndex: number): JobView {
  return { jobId: `${TASK_ID}.${jobIndex}`, taskId: TASK_ID, jobIndex, state: 'queued', attempt: 1 };
}

describe('GluonClient retries', () => {
  it('waits as long as Retry-After says after a 503, tries again and returns the 200 answer', async () => {
    const api = await scripted(
      refusal(503, 'TRANSIENT', 'busy, try again', { headers: { 'retry-after': '1' } }),
      json(200, { items: [] }),
    );
    const logger = recordingLogger();
    const before = apiCallCounts().listTasks ?? 0;

    const answer = await clientOf(api, { logger }).call('listTasks', { query: { limit: 10 } });

    expect(answer).toEqual({ items: [] });
    expect(api.requests.map((r) => `${r.method} ${r.path}?${r.query}`)).toEqual([
      'GET /tasks?limit=10',
      'GET /tasks?limit=10',
    ]);
    expect(api.requests.map((r) => r.headers.authorization)).toEqual([`Bearer ${TOKEN}`, `Bearer ${TOKEN}`]);
    expect(logger.warnings).toEqual([expect.objectContaining({ call: 'GET /tasks', retryInMs: 1000 })]);
    expect(apiCallCounts().listTasks).toBe(before + 2);
  });

  it('retries 429 and 5xx with jittered backoff doubling up to maxBackoffMs, then throws the last answer', async () => {
    const api = await scripted(
      refusal(429, 'THROTTLED', 'slow down'),
      text(502, '<html>Bad Gateway</html>'),
      refusal(500, 'INTERNAL', 'internal error'),
      refusal(503, 'TRANSIENT', 'busy'),
    );
    const logger = recordingLogger();
    const client = clientOf(api, { logger, retries: 4, backoffMs: 4, maxBackoffMs: 10 });

    const error = await rejection(client.call('getTask', { params: { taskId: TASK_ID } }));

    expect(error).toBeInstanceOf(ApiRequestError);
    expect(error).toMatchObject({ status: 503, code: 'TRANSIENT', retryable: true });
    expect((error as ApiRequestError).retryAfterMs).toBeUndefined();
    expect(api.requests.map((r) => r.path)).toEqual(Array(5).fill(`/tasks/${TASK_ID}`));
    // Backoff 4, 8, then 10 (the cap) twice: each wait between half and all of it.
    const waits = logger.warnings.map((w) => w.retryInMs as number);
    const backoffs = [4, 8, 10, 10];
    expect(waits).toHaveLength(backoffs.length);
    for (const [i, backoff] of backoffs.entries()) {
      expect(waits[i], `wait ${i}`).toBeGreaterThanOrEqual(backoff / 2);
      expect(waits[i], `wait ${i}`).toBeLessThanOrEqual(backoff);
    }
  });

  it('reports a 5xx that is not an error body (a proxy page) with its status and text', async () => {
    const api = await scripted(text(502, '<html>Bad Gateway</html>'));
    const error = await rejection(clientOf(api, { retries: 1 }).call('listTasks', {}));
    expect(error).toBeInstanceOf(ApiRequestError);
    expect(error).toMatchObject({ status: 502, code: 'HTTP_ERROR', retryable: true });
    expect(error.message).toBe('GET /tasks failed with HTTP 502 HTTP_ERROR: <html>Bad Gateway</html>');
    expect(api.requests).toHaveLength(2);
  });

  it('does not retry a 400: the error carries the code and the fields named', async () => {
    const issues = [{ field: 'query.limit', message: 'Too big: expected number to be <=1000' }];
    const api = await scripted(refusal(400, 'INVALID_INPUT', 'invalid query', { issues }));

    const error = await rejection(clientOf(api).call('listTasks', { query: { limit: 5000 } }));

    expect(error).toBeInstanceOf(ApiRequestError);
    expect(error).toMatchObject({ status: 400, code: 'INVALID_INPUT', issues, retryable: false });
    expect(error.message).toBe(
      'GET /tasks failed with HTTP 400 INVALID_INPUT: invalid query (query.limit: Too big: expected number to be <=1000)',
    );
    expect(api.requests).toHaveLength(1);
  });

  it('does not retry a claim answered 410 PILOT_GONE, though a claim is safe to repeat', async () => {
    const api = await scripted(refusal(410, 'PILOT_GONE', `pilot ${PILOT_ID} is no longer live`));
    const client = clientOf(api);

    const error = await rejection(
      client.call('claimJob', {
        params: { pilotId: PILOT_ID },
        body: {
          taskId: TASK_ID,
          jobIndex: 0,
          attempt: 1,
          resources: { cores: 1, memoryMB: 1000, diskMB: 1000, walltimeLeftSec: 3600 },
          holds: [],
        },
      }),
    );

    expect(error).toBeInstanceOf(ApiRequestError);
    expect(error).toMatchObject({ status: 410, code: 'PILOT_GONE', retryable: false });
    expect(api.requests.map((r) => `${r.method} ${r.path}`)).toEqual([`POST /pilots/${PILOT_ID}/claim`]);
    expect(JSON.parse(api.requests[0]?.body ?? '{}')).toMatchObject({ taskId: TASK_ID, jobIndex: 0 });
    expect(api.requests[0]?.headers['content-type']).toBe('application/json');
  });

  it('does not send a submission again after a 503 (a retry would make a second task)', async () => {
    const api = await scripted(refusal(503, 'TRANSIENT', 'busy'), json(201, {}));

    const error = await rejection(clientOf(api).call('submitTask', { body: { name: 'x' } as never }));

    expect(error).toMatchObject({ status: 503, code: 'TRANSIENT' });
    expect(api.requests).toHaveLength(1);
  });

  it('sends a submission with an idempotency key again after a 503 (Retry-After) and a reset connection, with the same key', async () => {
    const reset: Reply = (res) => res.socket?.destroy();
    const answer = { taskId: TASK_ID, state: 'submitted', jobCount: 1 };
    const api = await scripted(
      refusal(503, 'TRANSIENT', 'busy', { headers: { 'retry-after': '0' } }),
      reset,
      json(201, answer),
    );
    const key = 'a7d0c1c2-6c1e-4a8e-9f3b-2b1f0a9e8d7c';

    const submitted = await clientOf(api).call('submitTask', {
      body: { name: 'x', payload: { command: 'true' }, events: 1 },
      headers: { 'idempotency-key': key },
    });

    expect(submitted).toEqual(answer);
    expect(api.requests.map((r) => `${r.method} ${r.path}`)).toEqual(Array(3).fill('POST /tasks'));
    expect(api.requests.map((r) => r.headers['idempotency-key'])).toEqual([key, key, key]);
    expect(new Set(api.requests.map((r) => r.body)).size).toBe(1);
  });

  it('lets a call ask for its own number of retries', async () => {
    const api = await scripted(refusal(500, 'INTERNAL', 'internal error'));
    const error = await rejection(clientOf(api).call('listSites', {}, { retries: 0 }));
    expect(error).toMatchObject({ status: 500, code: 'INTERNAL' });
    expect(api.requests).toHaveLength(1);
  });
});

describe('GluonClient timeouts and unreachable servers', () => {
  it('gives up on a request after timeoutMs, tries `retries` more times, then throws ApiUnreachableError', async () => {
    const api = await scripted(silence);
    const client = clientOf(api, { timeoutMs: 100, retries: 2 });

    const error = await rejection(client.call('listTasks', {}));

    expect(error).toBeInstanceOf(ApiUnreachableError);
    expect(error.message).toBe('GET /tasks: no answer within 100 ms (after 3 tries)');
    await api.received(3);
    expect(api.requests).toHaveLength(3);
  });

  it('counts an answer that stops halfway as no answer within timeoutMs, and tries again', async () => {
    const halfway: Reply = (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"items":[');
    };
    const api = await scripted(halfway);

    const error = await rejection(clientOf(api, { timeoutMs: 100, retries: 1 }).call('listTasks', {}));

    expect(error).toBeInstanceOf(ApiUnreachableError);
    expect(error.message).toMatch(/^GET \/tasks: .+ \(after 2 tries\)$/);
    expect(api.requests).toHaveLength(2);
  });

  it('sends a submission that got no answer only once', async () => {
    const api = await scripted(silence);
    const error = await rejection(
      clientOf(api, { timeoutMs: 100 }).call('submitTask', { body: { name: 'x' } as never }),
    );
    expect(error).toBeInstanceOf(ApiUnreachableError);
    expect(error.message).toBe('POST /tasks: no answer within 100 ms (after 1 try)');
    await api.received(1);
    expect(api.requests).toHaveLength(1);
  });

  it('throws ApiUnreachableError naming the refused connection, after its retries', async () => {
    // A port that was just ours and is closed again: nothing listens there.
    const closed = await scripted();
    await closed.stop();
    const logger = recordingLogger();

    const error = await rejection(clientOf(closed, { logger }).call('listTasks', {}));

    expect(error).toBeInstanceOf(ApiUnreachableError);
    expect(error.message).toBe('GET /tasks: ECONNREFUSED (after 3 tries)');
    expect(error.cause).toBeInstanceOf(Error);
    expect(logger.warnings).toHaveLength(2);
  });
});

describe('GluonClient answers', () => {
  it('refuses a 200 whose body does not match the operation, naming the field, without retrying', async () => {
    const api = await scripted(json(200, { items: [{ taskId: 42 }] }));

    const error = await rejection(clientOf(api).call('listTasks', {}));

    expect(error).toBeInstanceOf(ApiResponseError);
    expect(error.message).toMatch(/^GET \/tasks: the answer does not match the API \(items\.0\.taskId: /);
    expect(api.requests).toHaveLength(1);
  });

  it('follows nextToken page after page with the same query, and returns every item in order', async () => {
    const pages = [
      { items: [jobView(0), jobView(1)], nextToken: 'b' },
      { items: [jobView(2), jobView(3)], nextToken: 'c' },
      { items: [jobView(4)] },
    ];
    const api = await scripted(...pages.map((page) => json(200, page)));

    const jobs = await clientOf(api).all('listJobs', {
      params: { taskId: TASK_ID },
      query: { limit: 2, state: 'queued' },
    });

    expect(jobs.map((j) => j.jobIndex)).toEqual([0, 1, 2, 3, 4]);
    expect(
      api.requests.map((r) => [r.path, r.query.get('limit'), r.query.get('state'), r.query.get('nextToken')]),
    ).toEqual([
      [`/tasks/${TASK_ID}/jobs`, '2', 'queued', null],
      [`/tasks/${TASK_ID}/jobs`, '2', 'queued', 'b'],
      [`/tasks/${TASK_ID}/jobs`, '2', 'queued', 'c'],
    ]);
  });

  it('stops following pages once it holds `max` items, and returns no more than that', async () => {
    const api = await scripted(
      json(200, { items: [jobView(0), jobView(1)], nextToken: 'b' }),
      json(200, { items: [jobView(2), jobView(3)], nextToken: 'c' }),
      json(200, { items: [jobView(4)] }),
    );

    const jobs = await clientOf(api).all('listJobs', { params: { taskId: TASK_ID } }, 3);

    expect(jobs.map((j) => j.jobIndex)).toEqual([0, 1, 2]);
    expect(api.requests).toHaveLength(2);
  });
});

describe('GluonClient aborts', () => {
  it('ends a retry wait when the signal aborts: the last failure is thrown and nothing more is sent', async () => {
    const api = await scripted(
      refusal(503, 'TRANSIENT', 'busy', { headers: { 'retry-after': '30' } }),
      json(200, { items: [] }),
    );
    const abort = new AbortController();
    // Abort once the client has said it will wait 30 s before its next try, and has begun to.
    const logger = recordingLogger(() => setImmediate(() => abort.abort()));

    const error = await rejection(clientOf(api, { logger }).call('listTasks', {}, { signal: abort.signal }));

    expect(logger.warnings).toEqual([expect.objectContaining({ retryInMs: 30_000 })]);
    expect(error).toBeInstanceOf(ApiRequestError);
    expect(error).toMatchObject({ status: 503, code: 'TRANSIENT' });
    expect(api.requests).toHaveLength(1);
  }, 10_000);

  it('sends nothing when the signal is already aborted', async () => {
    const api = await scripted(json(200, { items: [] }));
    const abort = new AbortController();
    abort.abort();
    await rejection(clientOf(api).call('listTasks', {}, { signal: abort.signal }));
    expect(api.requests).toHaveLength(0);
  });
});
