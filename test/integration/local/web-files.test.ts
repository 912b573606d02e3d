/** The local HTTP server's web monitor files, and the S3 proxy that answers CORS as the results bucket does. */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiServer, startApiServer } from '#local/api-server.ts';
import { createLocalAuth } from '#local/auth.ts';
import { listenOnLoopback } from '#local/listen.ts';
import { type S3CorsProxy, startS3CorsProxy } from '#local/s3-cors-proxy.ts';

const WEB_ORIGIN = 'http://127.0.0.1:8642';
let stateDir: string;
let server: ApiServer;
let upstream: Server;
let proxy: S3CorsProxy;
const upstreamSaw: Array<{ method: string; url: string }> = [];

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'gluon-web-'));
  const auth = await createLocalAuth({ stateDir });
  server = await startApiServer({ port: 0, handlers: {}, auth, web: true, log: () => undefined });
  upstream = createServer((req, res) => {
    upstreamSaw.push({ method: req.method ?? '', url: req.url ?? '' });
    res.writeHead(200, { 'content-type': 'application/json', etag: '"abc"' });
    res.end('{"counts":[1,2]}');
  });
  const upstreamPort = await listenOnLoopback(upstream, 0);
  proxy = await startS3CorsProxy({
    target: `http://127.0.0.1:${upstreamPort}`,
    port: 0,
    allowedOrigins: [WEB_ORIGIN],
  });
});

afterAll(async () => {
  await server?.stop();
  await proxy?.stop();
  await new Promise((resolve) => upstream?.close(resolve));
  await rm(stateDir, { recursive: true, force: true });
});

describe('the web monitor on the local server', () => {
  it.each([
    ['/web/index.html', 'text/html; charset=utf-8', '<title>Tasks'],
    ['/web/task.html', 'text/html; charset=utf-8', 'Failures by error code'],
    ['/web/js/task-model.js', 'text/javascript; charset=utf-8', 'export function failuresByCode'],
    ['/web/vendor/chart.umd.js', 'text/javascript; charset=utf-8', 'Chart'],
  ])('serves %s', async (path, type, text) => {
    const res = await fetch(`${server.url}${path}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(type);
    expect(await res.text()).toContain(text);
  });

  it('names the API at the same origin in config.json', async () => {
    expect(await (await fetch(`${server.url}/web/config.json`)).json()).toEqual({ apiUrl: '/' });
  });

  it('leads / to the tasks page', async () => {
    const res = await fetch(`${server.url}/`, { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/web/index.html');
  });

  it.each([
    '/web/../package.json',
    '/web/%2e%2e/package.json',
    '/web/%2e%2e%2flocal.json',
    '/web/nothing.html',
  ])('serves nothing outside web/ or missing: %s', async (path) => {
    const res = await fetch(`${server.url}${path}`);
    expect([404]).toContain(res.status);
    expect(await res.text()).not.toContain('"dependencies"');
  });

  it('leaves the API routes to the authorizer', async () => {
    expect((await fetch(`${server.url}/tasks`)).status).toBe(401);
  });
});

describe('the S3 CORS proxy', () => {
  it("answers a preflight from the monitor's origin, and refuses another origin", async () => {
    const preflight = (origin: string) =>
      fetch(`${proxy.endpoint}/bucket/key`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'GET' },
      });
    const ok = await preflight(WEB_ORIGIN);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe(WEB_ORIGIN);
    expect(ok.headers.get('access-control-allow-methods')).toBe('GET, HEAD');
    const other = await preflight('http://127.0.0.1:9999');
    expect(other.status).toBe(403);
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    expect(upstreamSaw.filter((r) => r.method === 'OPTIONS')).toEqual([]);
  });

  it('passes requests through to S3 and adds the CORS headers for the allowed origin only', async () => {
    const res = await fetch(`${proxy.endpoint}/gluon-local/tasks/t-1/out.json?X-Amz-Signature=x`, {
      headers: { origin: WEB_ORIGIN },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ counts: [1, 2] });
    expect(res.headers.get('access-control-allow-origin')).toBe(WEB_ORIGIN);
    expect(upstreamSaw.at(-1)).toEqual({
      method: 'GET',
      url: '/gluon-local/tasks/t-1/out.json?X-Amz-Signature=x',
    });
    const plain = await fetch(`${proxy.endpoint}/gluon-local/x`);
    expect(plain.headers.get('access-control-allow-origin')).toBeNull();
  });
});
