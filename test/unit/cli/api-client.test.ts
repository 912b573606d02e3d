import { describe, expect, it } from 'vitest';
import { ApiClient, asPage, errorFromResponse } from '#cli/api-client.ts';
import { ApiError, ApiUnreachableError } from '#cli/cli-error.ts';

type Call = { url: string; init: RequestInit | undefined };

function stubFetch(answer: (url: string) => Response | Promise<Response>): {
  fetch: typeof fetch;
  calls: Call[];
} {
  const calls: Call[] = [];
  const stub = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = String(input);
    calls.push({ url, init });
    return answer(url);
  }) as typeof globalThis.fetch;
  return { fetch: stub, calls };
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

describe('ApiClient', () => {
  it('sends the bearer token and JSON, to the URL without a trailing slash', async () => {
    const { fetch, calls } = stubFetch(() =>
      json(201, { taskId: 't-abcdefgh', state: 'submitted', jobCount: 1 }),
    );
    const client = new ApiClient({ apiUrl: 'http://127.0.0.1:1/', token: 'tok', fetch });
    await client.cancelTask('t-abcdefgh');
    expect(calls[0]?.url).toBe('http://127.0.0.1:1/tasks/t-abcdefgh/cancel');
    expect(calls[0]?.init?.method).toBe('POST');
    expect(new Headers(calls[0]?.init?.headers).get('authorization')).toBe('Bearer tok');
    expect(new Headers(calls[0]?.init?.headers).get('content-type')).toBe('application/json');
  });

  it('follows nextToken until the limit is reached', async () => {
    const { fetch, calls } = stubFetch((url) => {
      const token = new URL(url).searchParams.get('nextToken');
      const start = Number(token ?? '0');
      return json(200, {
        jobs: [{ jobIndex: start }, { jobIndex: start + 1 }],
        nextToken: String(start + 2),
      });
    });
    const client = new ApiClient({ apiUrl: 'http://127.0.0.1:1', token: 'tok', fetch });
    const jobs = await client.listAllJobs('t-abcdefgh', { limit: 5, state: 'failed' });
    expect(jobs.map((j) => j.jobIndex)).toEqual([0, 1, 2, 3, 4]);
    expect(calls.map((c) => new URL(c.url).searchParams.get('limit'))).toEqual(['5', '3', '1']);
    expect(calls.every((c) => new URL(c.url).searchParams.get('state') === 'failed')).toBe(true);
  });

  it('turns a refused connection into ApiUnreachableError naming the URL', async () => {
    const fetch: typeof globalThis.fetch = (async () => {
      throw new TypeError('fetch failed', {
        cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
      });
    }) as typeof globalThis.fetch;
    const client = new ApiClient({ apiUrl: 'http://127.0.0.1:9', token: 'tok', fetch });
    const error = await client.listPilots().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiUnreachableError);
    expect((error as Error).message).toBe(
      'cannot reach the Gluon API at http://127.0.0.1:9 (is `npm start` running?)',
    );
  });

  it('turns an error body into ApiError with its field issues', async () => {
    const { fetch } = stubFetch(() =>
      json(400, {
        error: {
          code: 'INVALID_INPUT',
          message: 'invalid task spec: name: too long; events: required',
          issues: [
            { field: 'name', message: 'too long' },
            { field: 'events', message: 'required' },
          ],
        },
      }),
    );
    const client = new ApiClient({ apiUrl: 'http://127.0.0.1:1', token: 'tok', fetch });
    const error = (await client.getTask('t-abcdefgh').catch((e: unknown) => e)) as ApiError;
    expect(error).toBeInstanceOf(ApiError);
    expect(error.status).toBe(400);
    expect(error.exitCode).toBe(1);
    expect(error.message).toBe('invalid task spec');
    expect(error.issues).toEqual([
      { field: 'name', message: 'too long' },
      { field: 'events', message: 'required' },
    ]);
  });
});

describe('errorFromResponse', () => {
  it('keeps a body that is not the error shape short', () => {
    const error = errorFromResponse(502, `<html>${'x'.repeat(1000)}</html>`);
    expect(error.code).toBe('HTTP_ERROR');
    expect(error.message.length).toBeLessThan(260);
  });

  it('adds a hint to a 401', () => {
    expect(
      errorFromResponse(401, '{"error":{"code":"UNAUTHORIZED","message":"bad token"}}').message,
    ).toContain('npm start');
  });
});

describe('asPage', () => {
  it('reads both {items} and a list named after its contents', () => {
    expect(asPage({ items: [1], nextToken: 'n' }, 'jobs')).toEqual({ items: [1], nextToken: 'n' });
    expect(asPage({ pilots: [2] }, 'pilots')).toEqual({ items: [2] });
  });

  it('rejects an answer with no list', () => {
    expect(() => asPage({ nope: [] }, 'tasks')).toThrow(/without a list of tasks/);
  });
});
