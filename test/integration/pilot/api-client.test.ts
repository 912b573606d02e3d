import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { HeartbeatRequest } from '#core/api/contract.ts';
import { freePort } from '#local/stand-ins.ts';
import { ApiClient, ApiRequestError, ApiUnreachableError } from '#pilot/api-client.ts';

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

let server: Server | undefined;
const seen: Array<{ path: string; authorization?: string; body: string }> = [];

async function serve(handler: Handler): Promise<string> {
  seen.length = 0;
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    req.on('end', () => {
      seen.push({ path: req.url ?? '', authorization: req.headers.authorization, body });
      handler(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

const heartbeat: HeartbeatRequest = { state: 'idle', jobs: [] };
const answer = { jobs: [], leaseExpiresAt: 1, serverTime: '2026-01-01T00:00:00Z' };

describe('ApiClient', () => {
  it('posts JSON with the bearer token and retries a 5xx until it succeeds', async () => {
    let calls = 0;
    const url = await serve((_req, res) => {
      calls++;
      if (calls < 3) json(res, 503, { error: { code: 'UNAVAILABLE', message: 'try later' } });
      else json(res, 200, answer);
    });
    const client = new ApiClient({ baseUrl: url, token: 'tok-1', backoffMs: 10 });
    await expect(client.heartbeat('p-abcdef01', heartbeat)).resolves.toEqual(answer);
    expect(seen).toHaveLength(3);
    expect(seen[0]).toEqual({
      path: '/pilots/p-abcdef01/heartbeat',
      authorization: 'Bearer tok-1',
      body: JSON.stringify(heartbeat),
    });
  });

  it('does not retry a 4xx and turns the error body into a clear error', async () => {
    const url = await serve((_req, res) =>
      json(res, 400, {
        error: {
          code: 'INVALID_INPUT',
          message: 'invalid request body',
          issues: [{ field: 'body.taskId', message: 'a task id such as t-01jd3k…' }],
        },
      }),
    );
    const client = new ApiClient({ baseUrl: url, token: 't', backoffMs: 10 });
    const error = await client
      .claim('p-abcdef01', { taskId: 't-bad', jobIndex: 0, attempt: 1 })
      .catch((e) => e);
    expect(error).toBeInstanceOf(ApiRequestError);
    expect(error).toMatchObject({ status: 400, code: 'INVALID_INPUT', retryable: false });
    expect(error.message).toContain('POST /pilots/p-abcdef01/claim');
    expect(error.message).toContain('body.taskId: a task id');
    expect(seen).toHaveLength(1);
  });

  it('retries 429 and gives up after the configured retries with the last error', async () => {
    const url = await serve((_req, res) =>
      json(res, 429, { error: { code: 'THROTTLED', message: 'slow down' } }),
    );
    const client = new ApiClient({ baseUrl: url, token: 't', backoffMs: 5, retries: 2 });
    const error = await client.heartbeat('p-abcdef01', heartbeat).catch((e) => e);
    expect(error).toBeInstanceOf(ApiRequestError);
    expect(error).toMatchObject({ status: 429, code: 'THROTTLED' });
    expect(seen).toHaveLength(3);
  });

  it('reports an error that is not JSON with its status and text', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('Not Found');
    });
    const client = new ApiClient({ baseUrl: url, token: 't' });
    const error = await client
      .register({
        siteId: 'site-a',
        host: 'h',
        pid: 1,
        resources: { cores: 1, memoryMB: 1, diskMB: 0, walltimeLeftSec: 1 },
      })
      .catch((e) => e);
    expect(error).toMatchObject({ status: 404, code: 'HTTP_ERROR' });
    expect(error.message).toContain('Not Found');
  });

  it('fails with ApiUnreachableError when nothing listens, after retrying', async () => {
    const port = await freePort();
    const client = new ApiClient({
      baseUrl: `http://127.0.0.1:${port}`,
      token: 't',
      backoffMs: 5,
      retries: 1,
    });
    const error = await client.heartbeat('p-abcdef01', heartbeat).catch((e) => e);
    expect(error).toBeInstanceOf(ApiUnreachableError);
    expect(error.message).toContain('ECONNREFUSED');
    expect(error.message).toContain('after 2 tries');
  });

  it('times out a request that gets no answer', async () => {
    const url = await serve(() => {
      // never answers
    });
    const client = new ApiClient({ baseUrl: url, token: 't', timeoutMs: 200, retries: 0 });
    const error = await client.heartbeat('p-abcdef01', heartbeat).catch((e) => e);
    expect(error).toBeInstanceOf(ApiUnreachableError);
    expect(error.message).toContain('no answer within 200 ms');
  });

  it('stops retrying when its signal aborts', async () => {
    const url = await serve((_req, res) =>
      json(res, 503, { error: { code: 'UNAVAILABLE', message: 'down' } }),
    );
    const controller = new AbortController();
    const client = new ApiClient({ baseUrl: url, token: 't', backoffMs: 60_000, retries: 5 });
    const pending = client.heartbeat('p-abcdef01', heartbeat, { signal: controller.signal }).catch((e) => e);
    await expect.poll(() => seen.length).toBe(1);
    controller.abort();
    expect(await pending).toBeInstanceOf(ApiRequestError);
    expect(seen).toHaveLength(1);
  });
});
