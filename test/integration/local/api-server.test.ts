import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { APIGatewayProxyEventV2WithJWTAuthorizer } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ApiRequestError, GluonClient } from '#client/gluon-client.ts';
import { TransientError } from '#core/errors.ts';
import { httpHandler } from '#lambdas/http/http-handler.ts';
import { createHandler as listSitesHandler } from '#lambdas/sites/list-sites/handler.ts';
import { createHandler as putSiteHandler } from '#lambdas/sites/put-site/handler.ts';
import { createHandler as listTasksHandler } from '#lambdas/tasks/list-tasks/handler.ts';
import { type ApiServer, startApiServer } from '#local/api-server.ts';
import { createLocalAuth, type LocalAuth } from '#local/auth.ts';
import type { HandlerMap } from '#local/lambda-handler.ts';
import type { Log } from '#local/log.ts';
import { inMemoryDeps } from '#test/support/in-memory-ports.ts';

let stateDir: string;
let auth: LocalAuth;
let server: ApiServer;
let userToken: string;
let pilotToken: string;
const events: Array<{ fn: string; event: APIGatewayProxyEventV2WithJWTAuthorizer; functionName: string }> =
  [];
const logged: Array<{ level: string; message: string }> = [];
const log: Log = (level, message) => {
  logged.push({ level, message });
};

const echo =
  (fn: string): HandlerMap[string] =>
  async (event, context) => {
    events.push({
      fn,
      event: event as APIGatewayProxyEventV2WithJWTAuthorizer,
      functionName: context.functionName,
    });
    return {
      statusCode: fn === 'submit-task' ? 201 : 200,
      headers: { 'Content-Type': 'application/json', 'X-Fn': fn },
      body: JSON.stringify({ fn }),
    };
  };

const handlers: HandlerMap = {
  'submit-task': echo('submit-task'),
  'get-task': echo('get-task'),
  'list-jobs': echo('list-jobs'),
  'claim-job': echo('claim-job'),
  'list-tasks': async () => ({ items: [], nextToken: undefined }),
  'cancel-task': async () => {
    throw new Error('database on fire');
  },
};

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'gluon-api-'));
  auth = await createLocalAuth({ stateDir });
  server = await startApiServer({ port: 0, handlers, auth, log, maxBodyBytes: 1024 * 1024 });
  userToken = await auth.userToken();
  pilotToken = await auth.pilotToken('local');
});

afterAll(async () => {
  await server?.stop();
  await rm(stateDir, { recursive: true, force: true });
});

beforeEach(() => {
  events.length = 0;
  logged.length = 0;
});

function call(
  method: string,
  path: string,
  init: { token?: string; body?: string; headers?: Record<string, string> } = {},
) {
  const headers: Record<string, string> = { ...init.headers };
  if (init.token !== undefined) headers.authorization = `Bearer ${init.token}`;
  return fetch(`${server.url}${path}`, { method, headers, body: init.body });
}

describe('local API server', () => {
  it('listens on 127.0.0.1', () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('builds an API Gateway v2 event with route key, body and JWT authorizer context', async () => {
    const body = JSON.stringify({ name: 'zmumu' });
    const res = await call('POST', '/tasks?dry=1&tag=a&tag=b', {
      token: userToken,
      body,
      headers: { 'content-type': 'application/json', 'X-Custom': 'Yes', cookie: 'a=1; b=2' },
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-fn')).toBe('submit-task');
    expect(res.headers.get('apigw-requestid')).toBeTruthy();
    expect(await res.json()).toEqual({ fn: 'submit-task' });

    expect(events).toHaveLength(1);
    const [{ event, functionName }] = events as [(typeof events)[number]];
    expect(functionName).toBe('submit-task');
    expect(event.version).toBe('2.0');
    expect(event.routeKey).toBe('POST /tasks');
    expect(event.rawPath).toBe('/tasks');
    expect(event.rawQueryString).toBe('dry=1&tag=a&tag=b');
    expect(event.queryStringParameters).toEqual({ dry: '1', tag: 'a,b' });
    expect(event.headers['x-custom']).toBe('Yes');
    expect(event.headers['content-type']).toBe('application/json');
    expect(event.cookies).toEqual(['a=1', 'b=2']);
    expect(event.body).toBe(body);
    expect(event.isBase64Encoded).toBe(false);
    expect(event.pathParameters).toBeUndefined();
    expect(event.requestContext.http.method).toBe('POST');
    expect(event.requestContext.http.path).toBe('/tasks');
    expect(event.requestContext.routeKey).toBe('POST /tasks');
    expect(event.requestContext.stage).toBe('$default');
    expect(event.requestContext.requestId).toBe(res.headers.get('apigw-requestid'));
    expect(event.requestContext.time).toMatch(/^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/);
    expect(event.requestContext.authorizer.jwt.claims.sub).toBe('local-user');
    expect(event.requestContext.authorizer.jwt.claims.aud).toBe('gluon');
    expect(typeof event.requestContext.authorizer.jwt.claims.exp).toBe('string');
    expect(event.requestContext.authorizer.jwt.scopes?.sort()).toEqual([
      'compute.cancel',
      'compute.create',
      'compute.modify',
      'compute.read',
      'gluon.admin',
    ]);
  });

  it('passes path parameters and the pilot identity', async () => {
    const res = await call('POST', '/pilots/p-abc123/claim', { token: pilotToken, body: '{}' });
    expect(res.status).toBe(200);
    const [{ event }] = events as [(typeof events)[number]];
    expect(event.routeKey).toBe('POST /pilots/{pilotId}/claim');
    expect(event.pathParameters).toEqual({ pilotId: 'p-abc123' });
    expect(event.requestContext.authorizer.jwt.claims.sub).toBe('pilot:local');
    expect(event.requestContext.authorizer.jwt.scopes).toEqual(['gluon.pilot']);
  });

  it('leaves body out of a GET event', async () => {
    const res = await call('GET', '/tasks/t-abc123/jobs', { token: userToken });
    expect(res.status).toBe(200);
    const [{ event }] = events as [(typeof events)[number]];
    expect(event.body).toBeUndefined();
    expect(event.queryStringParameters).toBeUndefined();
    expect(event.pathParameters).toEqual({ taskId: 't-abc123' });
  });

  it('answers 401 without a valid token, before calling the handler', async () => {
    const missing = await call('GET', '/tasks/t-abc123', {});
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer /);
    expect(await missing.json()).toMatchObject({ message: 'Unauthorized', error: { code: 'UNAUTHORIZED' } });
    const expired = await auth.mintToken({ sub: 'u', scopes: ['compute.read'], ttlSec: -60 });
    expect((await call('GET', '/tasks/t-abc123', { token: expired })).status).toBe(401);
    expect((await call('GET', '/tasks/t-abc123', { token: 'garbage' })).status).toBe(401);
    expect(events).toHaveLength(0);
  });

  it('answers 403 when the token has none of the route scopes', async () => {
    const res = await call('POST', '/tasks', { token: pilotToken, body: '{}' });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ message: 'Forbidden', error: { code: 'FORBIDDEN' } });
    const asUser = await call('POST', '/pilots/p-abc123/claim', { token: userToken, body: '{}' });
    expect(asUser.status).toBe(403);
    expect(events).toHaveLength(0);
  });

  it('answers 404 for an unknown route and 405 for a known path with another method', async () => {
    const notFound = await call('GET', '/nowhere', { token: userToken });
    expect(notFound.status).toBe(404);
    expect(await notFound.json()).toEqual({
      error: { code: 'NOT_FOUND', message: 'no route for GET /nowhere' },
    });
    const wrongMethod = await call('DELETE', '/tasks/t-abc123', { token: userToken });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('GET');
    expect(await wrongMethod.json()).toMatchObject({ error: { code: 'METHOD_NOT_ALLOWED' } });
  });

  it('answers 413 for a body over 1 MB', async () => {
    const res = await call('POST', '/tasks', { token: userToken, body: 'x'.repeat(1024 * 1024 + 1) });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: { code: 'PAYLOAD_TOO_LARGE' } });
    expect(events).toHaveLength(0);
    // Exactly 1 MB is fine.
    const ok = await call('POST', '/tasks', { token: userToken, body: 'x'.repeat(1024 * 1024) });
    expect(ok.status).toBe(201);
  });

  it('answers 413 for a chunked body that grows over the limit', async () => {
    const chunk = new TextEncoder().encode('y'.repeat(256 * 1024));
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 5; i++) controller.enqueue(chunk);
        controller.close();
      },
    });
    const res = await fetch(`${server.url}/tasks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${userToken}` },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(events).toHaveLength(0);
  });

  it('answers 500 with a bland body when the handler throws, and logs the error', async () => {
    const res = await call('POST', '/tasks/t-abc123/cancel', { token: userToken });
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ error: { code: 'INTERNAL', message: 'internal error' } });
    expect(logged).toContainEqual({ level: 'error', message: 'handler threw' });
  });

  it('answers 500 when no handler serves a listed route', async () => {
    const res = await call('GET', '/pilots', { token: userToken });
    expect(res.status).toBe(500);
    expect(logged).toContainEqual({ level: 'error', message: 'no handler for function' });
  });

  it('sends a result without statusCode as a 200 JSON body, as HTTP API does', async () => {
    const res = await call('GET', '/tasks', { token: userToken });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.json()).toEqual({ items: [] });
  });
});

describe('local API server with the functions of Gluon', () => {
  const deps = inMemoryDeps();
  const functions: HandlerMap = {
    'put-site': putSiteHandler(deps),
    'list-sites': listSitesHandler(deps),
    'list-tasks': listTasksHandler(deps),
    'get-task': httpHandler('getTask', async () => {
      throw new TransientError('the tasks table is busy');
    }),
  };
  let real: ApiServer;
  let client: GluonClient;

  beforeAll(async () => {
    real = await startApiServer({ port: 0, handlers: functions, auth, log });
    client = new GluonClient({ baseUrl: real.url, token: userToken, retries: 0 });
  });

  afterAll(async () => {
    await real?.stop();
  });

  it('serves answers the typed client accepts, lists included', async () => {
    const site = await client.call('putSite', {
      params: { siteId: 'grid-a' },
      body: { kind: 'grid', slot: { cores: 8 }, maxPilots: 20 },
    });
    expect(site).toMatchObject({ siteId: 'grid-a', kind: 'grid', status: 'online', maxPilots: 20 });
    expect(site.slot.cores).toBe(8);
    const sites = await client.call('listSites', {});
    expect(sites.items.map((s) => s.siteId)).toEqual(['grid-a']);
    expect(await client.call('listTasks', { query: { limit: 10 } })).toEqual({ items: [] });
  });

  it('answers a bad query field with a 400 naming it, from the edge of the function', async () => {
    const answer = await client.raw('GET', '/tasks?limit=0');
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({
      error: { code: 'INVALID_INPUT', issues: [{ field: 'query.limit' }] },
    });
  });

  it('passes the retry-after of a 503 on to the caller', async () => {
    const answer = await client.raw('GET', '/tasks/t-abc123');
    expect(answer.status).toBe(503);
    expect(answer.headers.get('retry-after')).toBe('2');
    const error = await client.call('getTask', { params: { taskId: 't-abc123' } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiRequestError);
    expect(error).toMatchObject({ status: 503, code: 'TRANSIENT', retryAfterMs: 2000, retryable: true });
  });
});
