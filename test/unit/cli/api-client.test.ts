import { describe, expect, it } from 'vitest';
import { ApiClient } from '#cli/api-client.ts';
import { ApiError, ApiUnreachableError, CliError } from '#cli/cli-error.ts';
import { ApiResponseError } from '#client/gluon-client.ts';
import type { JobView, TaskSummary } from '#core/api/tasks.ts';
import { emptyJobCounts } from '#core/jobs/job-counts.ts';

interface Call {
  url: URL;
  method: string;
  headers: Headers;
  body: string | undefined;
}

/** A fetch that records each request and answers with `answer`. */
function stubFetch(answer: (call: Call) => Response | Promise<Response>): {
  fetch: typeof fetch;
  calls: Call[];
} {
  const calls: Call[] = [];
  const stub = (async (input: string | URL | Request, init?: RequestInit) => {
    const call: Call = {
      url: new URL(String(input)),
      method: init?.method ?? 'GET',
      headers: new Headers(init?.headers),
      body: typeof init?.body === 'string' ? init.body : undefined,
    };
    calls.push(call);
    return answer(call);
  }) as typeof globalThis.fetch;
  return { fetch: stub, calls };
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

const refusedConnection = (async () => {
  throw new TypeError('fetch failed', {
    cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }),
  });
}) as typeof globalThis.fetch;

function client(fetch: typeof globalThis.fetch, apiUrl = 'http://127.0.0.1:1'): ApiClient {
  return new ApiClient({ apiUrl, token: 'tok', fetch });
}

function job(jobIndex: number): JobView {
  return { jobId: `t-abcdefgh.${jobIndex}`, taskId: 't-abcdefgh', jobIndex, state: 'queued', attempt: 1 };
}

function summary(taskId: string): TaskSummary {
  return {
    taskId,
    name: 'demo',
    owner: 'alice',
    state: 'running',
    jobCount: 1,
    jobsEnqueued: 1,
    counts: { ...emptyJobCounts(), queued: 1 },
    siteIds: ['local'],
    cancelRequested: false,
    createdAt: '2026-11-25T10:00:00.000Z',
    updatedAt: '2026-11-25T10:00:00.000Z',
  };
}

/** Pages of `size` out of `total` numbered items, with the offset as the token. */
function pages<T>(make: (i: number) => T, total: number, size: number) {
  return ({ url }: Call) => {
    const start = Number(url.searchParams.get('nextToken') ?? '0');
    const end = Math.min(total, start + Math.min(size, Number(url.searchParams.get('limit'))));
    const items = Array.from({ length: end - start }, (_, i) => make(start + i));
    return json(200, { items, ...(end < total ? { nextToken: String(end) } : {}) });
  };
}

describe('ApiClient.call', () => {
  it('sends the bearer token to the operation path under the URL given, with no body when it takes none', async () => {
    const { fetch, calls } = stubFetch(() =>
      json(202, { taskId: 't-abcdefgh', state: 'running', cancelRequested: true }),
    );
    const answer = await client(fetch, 'http://127.0.0.1:1/prod/').call('cancelTask', {
      params: { taskId: 't-abcdefgh' },
    });
    expect(answer).toEqual({ taskId: 't-abcdefgh', state: 'running', cancelRequested: true });
    expect(calls).toHaveLength(1);
    expect(calls[0]?.url.href).toBe('http://127.0.0.1:1/prod/tasks/t-abcdefgh/cancel');
    expect(calls[0]?.method).toBe('POST');
    expect(calls[0]?.headers.get('authorization')).toBe('Bearer tok');
    expect(calls[0]?.body).toBeUndefined();
  });

  it('sends a body as JSON to the path its parameters make', async () => {
    const site = {
      siteId: 'grid-a',
      kind: 'grid',
      status: 'online',
      slot: { cores: 8, memoryMB: 16000, walltimeSec: 86400, diskMB: 10000 },
      maxPilots: 10,
      tags: [],
    };
    const { fetch, calls } = stubFetch(() => json(200, site));
    await client(fetch).call('putSite', {
      params: { siteId: 'grid-a' },
      body: { kind: 'grid', maxPilots: 10 },
    });
    expect(calls[0]?.method).toBe('PUT');
    expect(calls[0]?.url.pathname).toBe('/sites/grid-a');
    expect(calls[0]?.headers.get('content-type')).toBe('application/json');
    expect(JSON.parse(calls[0]?.body ?? 'null')).toEqual({ kind: 'grid', maxPilots: 10 });
  });

  it('turns an error body into an ApiError with the message once and the field issues apart', async () => {
    const issues = [
      { field: 'name', message: 'letters, digits, . _ - (start with a letter or digit)' },
      { field: 'events', message: 'required' },
    ];
    const { fetch, calls } = stubFetch(() =>
      json(400, {
        error: {
          code: 'INVALID_INPUT',
          message: `invalid task spec: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`,
          issues,
        },
      }),
    );
    const error = await client(fetch)
      .call('submitTask', { body: { name: 'x', payload: { command: 'true' }, events: 1 } })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({
      status: 400,
      code: 'INVALID_INPUT',
      exitCode: 1,
      message: 'invalid task spec (HTTP 400 INVALID_INPUT)',
      issues,
    });
    // A 400 is not tried again.
    expect(calls).toHaveLength(1);
  });

  it('keeps a message that has parentheses of its own whole', async () => {
    const { fetch } = stubFetch(() =>
      json(404, { error: { code: 'NOT_FOUND', message: 'task t-abcdefgh not found (or not yours)' } }),
    );
    const error = await client(fetch)
      .call('getTask', { params: { taskId: 't-abcdefgh' } })
      .catch((e: unknown) => e);
    expect((error as ApiError).message).toBe('task t-abcdefgh not found (or not yours) (HTTP 404 NOT_FOUND)');
  });

  it('says what to do about a refused token or a missing scope', async () => {
    for (const [status, code, hint] of [
      [401, 'UNAUTHORIZED', 'restart `npm start` to get a fresh one, or check GLUON_TOKEN'],
      [403, 'FORBIDDEN', 'the token lacks the scope this needs'],
    ] as const) {
      const { fetch } = stubFetch(() => json(status, { error: { code, message: 'no' } }));
      const error = await client(fetch)
        .call('listSites', {})
        .catch((e: unknown) => e);
      expect((error as ApiError).message).toBe(
        `no (HTTP ${status} ${code}) (${status === 401 ? 'the token was refused: ' : ''}${hint})`,
      );
    }
  });

  it('turns a refused connection into ApiUnreachableError naming the URL', async () => {
    // submitTask is not repeated (a second submission would make a second task): one try only.
    const error = await client(refusedConnection, 'http://127.0.0.1:9')
      .call('submitTask', { body: { name: 'x', payload: { command: 'true' }, events: 1 } })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiUnreachableError);
    expect((error as Error).message).toBe(
      'cannot reach the Gluon API at http://127.0.0.1:9 (is `npm start` running?)',
    );
  });

  it('lets an answer that does not match the operation through as ApiResponseError naming the field', async () => {
    const { fetch } = stubFetch(() => json(200, { items: [{ siteId: 'local' }] }));
    const error = await client(fetch)
      .call('listSites', {})
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiResponseError);
    expect((error as Error).message).toMatch(
      /^GET \/sites: the answer does not match the API \(items\.0\.kind: /,
    );
  });
});

describe('ApiClient listings', () => {
  it('follows nextToken until the limit is reached, asking only for what is missing', async () => {
    const { fetch, calls } = stubFetch(pages(job, 100, 2));
    const jobs = await client(fetch).listAllJobs('t-abcdefgh', { limit: 5, state: 'queued' });
    expect(jobs.map((j) => j.jobIndex)).toEqual([0, 1, 2, 3, 4]);
    expect(calls.map((c) => c.url.searchParams.get('limit'))).toEqual(['5', '3', '1']);
    expect(calls.map((c) => c.url.searchParams.get('nextToken'))).toEqual([null, '2', '4']);
    expect(calls.every((c) => c.url.searchParams.get('state') === 'queued')).toBe(true);
  });

  it('reads every page in pages of 1000 when no limit is given', async () => {
    const { fetch, calls } = stubFetch(pages(job, 2500, 1000));
    const jobs = await client(fetch).listAllJobs('t-abcdefgh');
    expect(jobs).toHaveLength(2500);
    expect(jobs.at(-1)?.jobIndex).toBe(2499);
    expect(calls.map((c) => c.url.searchParams.get('limit'))).toEqual(['1000', '1000', '1000']);
    expect(calls.every((c) => !c.url.searchParams.has('state'))).toBe(true);
  });

  it('lists tasks up to the limit, and stops when the last page has no token', async () => {
    const ids = (i: number) => summary(`t-task${String(i).padStart(4, '0')}`);
    const limited = stubFetch(pages(ids, 10, 3));
    expect((await client(limited.fetch).listAllTasks(4)).map((t) => t.taskId)).toEqual([
      't-task0000',
      't-task0001',
      't-task0002',
      't-task0003',
    ]);
    expect(limited.calls.map((c) => c.url.searchParams.get('limit'))).toEqual(['4', '1']);
    const all = stubFetch(pages(ids, 5, 3));
    expect(await client(all.fetch).listAllTasks(100)).toHaveLength(5);
    expect(all.calls).toHaveLength(2);
  });

  it('turns the errors of a listing into CLI errors too', async () => {
    const { fetch } = stubFetch(() =>
      json(401, { error: { code: 'UNAUTHORIZED', message: 'token expired' } }),
    );
    const error = await client(fetch)
      .all('listPilots', { query: { limit: 1000 } })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(401);
  });
});

describe('ApiClient.upload', () => {
  it('PUTs the bytes to the presigned URL without the bearer token', async () => {
    const { fetch, calls } = stubFetch(() => new Response(null, { status: 200 }));
    await client(fetch).upload('http://127.0.0.1:2/bucket/key?X-Amz-Signature=s', new Uint8Array([1, 2, 3]));
    expect(calls[0]?.method).toBe('PUT');
    expect(calls[0]?.url.href).toBe('http://127.0.0.1:2/bucket/key?X-Amz-Signature=s');
    expect(calls[0]?.headers.has('authorization')).toBe(false);
  });

  it('reports a refused upload with the status and what the store said', async () => {
    const { fetch } = stubFetch(() => new Response('<Error>SignatureDoesNotMatch</Error>', { status: 403 }));
    const error = await client(fetch)
      .upload('http://127.0.0.1:2/bucket/key', new Uint8Array([1]))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).message).toBe(
      'upload failed: <Error>SignatureDoesNotMatch</Error> (HTTP 403 UPLOAD_FAILED)',
    );
  });

  it('names the store it cannot reach', async () => {
    const error = await client(refusedConnection)
      .upload('http://127.0.0.1:9/bucket/key', new Uint8Array([1]))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).message).toBe('cannot upload to http://127.0.0.1:9: ECONNREFUSED');
  });
});
