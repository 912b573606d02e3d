import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { APIGatewayProxyEventV2WithJWTAuthorizer, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { JWTPayload } from 'jose';
import type { ErrorBody } from '#core/api/index.ts';
import { accessLogLine } from '#lambdas/http/access-log.ts';
import { ROUTES, type Route } from '#lambdas/routes.ts';
import type { LocalAuth } from './auth.ts';
import { type HandlerMap, invokeHandler } from './lambda-handler.ts';
import { LOOPBACK as HOST, listenOnLoopback } from './listen.ts';
import { consoleLog, type Log } from './log.ts';
import { createRouteMatcher } from './route-matcher.ts';
import { serveWebFile } from './web-files.ts';

/** The local API Gateway: routes, JWT authorizer and API Gateway v2 events for in-process handlers. */
export interface ApiServerOptions {
  /** Port on 127.0.0.1; 0 picks a free one. */
  port: number;
  /** Handlers by function name, as listed in the route table. */
  handlers: HandlerMap;
  auth: Pick<LocalAuth, 'verifyRequest'>;
  routes?: readonly Route[];
  /** Largest request body accepted (default 1 MiB); larger → 413. */
  maxBodyBytes?: number;
  /** Where the access log goes (one JSON line per request, as the deployed stage writes it). */
  accessLogFile?: string;
  log?: Log;
  /** Also serve the web monitor (web/) under /web/, as CloudFront does on AWS. */
  web?: boolean;
}

export interface ApiServer {
  readonly url: string;
  readonly port: number;
  /** Bytes of access log written so far. */
  accessLogBytes(): number;
  /** Stops accepting, lets requests in progress finish (bounded), closes every connection. */
  stop(): Promise<void>;
}

const DEFAULT_MAX_BODY = 1024 * 1024;
const STOP_GRACE_MS = 5_000;

export async function startApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const log = options.log ?? consoleLog;
  const match = createRouteMatcher(options.routes ?? ROUTES);
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY;
  const inFlight = new Set<Promise<void>>();

  const accessLog =
    options.accessLogFile === undefined
      ? undefined
      : createWriteStream(options.accessLogFile, { flags: 'a' });
  accessLog?.on('error', (error) => log('warn', 'cannot write the API access log', { error }));
  let accessBytes = 0;

  const server = createServer((req, res) => {
    const started = performance.now();
    res.once('finish', () => {
      const line = accessLogLine({
        requestId: String(res.getHeader('x-amzn-requestid') ?? ''),
        ip: req.socket.remoteAddress ?? '',
        requestTime: new Date().toUTCString(),
        routeKey: `${req.method ?? ''} ${(req.url ?? '').split('?')[0]}`,
        status: String(res.statusCode),
        protocol: `HTTP/${req.httpVersion}`,
        responseLength: String(res.getHeader('content-length') ?? ''),
        integrationLatency: String(Math.round(performance.now() - started)),
      });
      accessBytes += Buffer.byteLength(line);
      accessLog?.write(line);
    });
    const done = serve(req, res).catch((error: unknown) => {
      log('error', 'api request failed', { method: req.method, url: req.url, error });
      if (!res.headersSent) sendError(res, 500, 'INTERNAL', 'internal error', randomUUID());
      else res.destroy();
    });
    inFlight.add(done);
    void done.finally(() => inFlight.delete(done));
  });

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    const url = new URL(req.url ?? '/', 'http://localhost');
    const rawPath = url.pathname;
    const method = (req.method ?? 'GET').toUpperCase();
    if (options.web === true && (await serveWebFile(req, res, rawPath))) return;

    const found = match(method, rawPath);
    if (found.kind === 'not-found') {
      drain(req);
      return sendError(res, 404, 'NOT_FOUND', `no route for ${method} ${rawPath}`, requestId);
    }
    if (found.kind === 'method-not-allowed') {
      drain(req);
      res.setHeader('allow', found.allowed.join(', '));
      return sendError(res, 405, 'METHOD_NOT_ALLOWED', `${method} is not allowed on ${rawPath}`, requestId);
    }

    const declared = Number(req.headers['content-length'] ?? '0');
    if (Number.isFinite(declared) && declared > maxBodyBytes) {
      drain(req);
      return sendError(res, 413, 'PAYLOAD_TOO_LARGE', `request body over ${maxBodyBytes} bytes`, requestId);
    }

    const verdict = await options.auth.verifyRequest(req.headers.authorization, found.route.scopes);
    if (!verdict.ok) {
      drain(req);
      if (verdict.status === 401) {
        res.setHeader(
          'www-authenticate',
          `Bearer error="invalid_token" error_description="${verdict.message}"`,
        );
        return sendError(res, 401, 'UNAUTHORIZED', verdict.message, requestId, 'Unauthorized');
      }
      return sendError(res, 403, 'FORBIDDEN', verdict.message, requestId, 'Forbidden');
    }

    const body = await readBody(req, maxBodyBytes);
    if (body === 'too-large') {
      return sendError(res, 413, 'PAYLOAD_TOO_LARGE', `request body over ${maxBodyBytes} bytes`, requestId);
    }

    const handler = options.handlers[found.route.functionName];
    if (handler === undefined) {
      log('error', 'no handler for function', { functionName: found.route.functionName });
      return sendError(res, 500, 'INTERNAL', 'internal error', requestId);
    }

    const event = buildApiEvent({
      req,
      url,
      requestId,
      routeKey: found.routeKey,
      pathParameters: found.pathParameters,
      body,
      claims: verdict.claims,
      scopes: verdict.scopes,
    });
    let result: unknown;
    try {
      result = await invokeHandler(handler, found.route.functionName, event);
    } catch (error) {
      log('error', 'handler threw', {
        functionName: found.route.functionName,
        routeKey: found.routeKey,
        error,
      });
      return sendError(res, 500, 'INTERNAL', 'internal error', requestId);
    }
    writeResult(res, result, requestId);
  }

  const port = await listenOnLoopback(server, options.port);
  let stopping: Promise<void> | undefined;

  return {
    url: `http://${HOST}:${port}`,
    port,
    accessLogBytes: () => accessBytes,
    stop() {
      stopping ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        await Promise.race([Promise.allSettled([...inFlight]), delay(STOP_GRACE_MS)]);
        server.closeAllConnections();
        await closed;
        await new Promise<void>((resolve) => (accessLog === undefined ? resolve() : accessLog.end(resolve)));
      })();
      return stopping;
    },
  };
}

export interface ApiEventInput {
  req: IncomingMessage;
  url: URL;
  requestId: string;
  routeKey: string;
  pathParameters: Record<string, string>;
  body: string | undefined;
  claims: JWTPayload;
  scopes: string[];
}

/** An API Gateway v2 (HTTP API, payload format 2.0) event with JWT authorizer context. */
export function buildApiEvent(input: ApiEventInput): APIGatewayProxyEventV2WithJWTAuthorizer {
  const { req, url } = input;
  const headers: Record<string, string> = {};
  let cookies: string[] | undefined;
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    const joined = Array.isArray(value) ? value.join(',') : value;
    if (name === 'cookie') cookies = joined.split(/;\s*/).filter((c) => c !== '');
    else headers[name] = joined;
  }
  const query: Record<string, string> = {};
  for (const [name, value] of url.searchParams) {
    query[name] = query[name] === undefined ? value : `${query[name]},${value}`;
  }
  const now = new Date();
  const method = (req.method ?? 'GET').toUpperCase();
  const host = headers.host ?? `${HOST}`;
  const event: APIGatewayProxyEventV2WithJWTAuthorizer = {
    version: '2.0',
    routeKey: input.routeKey,
    rawPath: url.pathname,
    rawQueryString: url.search.startsWith('?') ? url.search.slice(1) : url.search,
    headers,
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: host,
      domainPrefix: host.split('.')[0] ?? host,
      http: {
        method,
        path: url.pathname,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? HOST,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: input.requestId,
      routeKey: input.routeKey,
      stage: '$default',
      time: apiGatewayTime(now),
      timeEpoch: now.getTime(),
      authorizer: { jwt: { claims: stringClaims(input.claims), scopes: input.scopes } },
    },
    isBase64Encoded: false,
  };
  if (cookies !== undefined) event.cookies = cookies;
  if (Object.keys(query).length > 0) event.queryStringParameters = query;
  if (Object.keys(input.pathParameters).length > 0) event.pathParameters = { ...input.pathParameters };
  if (input.body !== undefined) event.body = input.body;
  return event;
}

/** API Gateway hands JWT claims to the function as strings (arrays as `[a b]`). */
function stringClaims(claims: JWTPayload): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(claims)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) out[name] = `[${value.map(String).join(' ')}]`;
    else if (typeof value === 'object' && value !== null) out[name] = JSON.stringify(value);
    else out[name] = String(value);
  }
  return out;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `25/Nov/2026:10:01:02 +0000`, the format of `requestContext.time`. */
function apiGatewayTime(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

/** Writes a handler result as HTTP API does for payload format 2.0. */
function writeResult(res: ServerResponse, result: unknown, requestId: string): void {
  res.setHeader('apigw-requestid', requestId);
  if (!isStructuredResult(result)) {
    // A result without statusCode is taken as a JSON body with status 200.
    const body = typeof result === 'string' ? result : JSON.stringify(result ?? null);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(body);
    return;
  }
  for (const [name, value] of Object.entries(result.headers ?? {}))
    res.setHeader(name.toLowerCase(), String(value));
  if (result.cookies !== undefined && result.cookies.length > 0) res.setHeader('set-cookie', result.cookies);
  const body = result.body ?? '';
  res.writeHead(result.statusCode ?? 200);
  res.end(result.isBase64Encoded === true ? Buffer.from(body, 'base64') : body);
}

function isStructuredResult(result: unknown): result is APIGatewayProxyStructuredResultV2 {
  return typeof result === 'object' && result !== null && 'statusCode' in result;
}

function sendError(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  requestId: string,
  gatewayMessage?: string,
): void {
  const body: ErrorBody & { message?: string } = { error: { code, message } };
  // API Gateway's own authorizer answers carry `message`; keep it so AWS-aware clients read both.
  if (gatewayMessage !== undefined) body.message = gatewayMessage;
  res.setHeader('apigw-requestid', requestId);
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/**
 * Reads the body as UTF-8. Past `maxBytes` the rest is read and dropped (so the 413 answer goes
 * back on a clean connection), unless it is absurdly large, then the connection is cut.
 */
function readBody(req: IncomingMessage, maxBytes: number): Promise<string | undefined | 'too-large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) chunks.push(chunk);
      else if (size > maxBytes * 64) req.destroy();
    });
    req.on('end', () => {
      if (size > maxBytes) resolve('too-large');
      else resolve(size === 0 ? undefined : Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', reject);
    req.on('close', () => {
      if (!req.complete) reject(new Error('request aborted'));
    });
  });
}

/** Discards the rest of a request body so the answer can be sent on a clean connection. */
function drain(req: IncomingMessage): void {
  req.resume();
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
