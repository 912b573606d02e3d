/**
 * fauxqs' S3 answers no CORS requests, so a page could not read a presigned URL's object (the
 * Z→μμ histogram on its task page). The local stack's S3 endpoint is this small proxy in front of
 * fauxqs, which adds what the CORS rule of the results bucket gives on AWS (cdk/constructs/web.ts):
 * GET and HEAD from the web monitor's origins, preflights answered. Everything else passes as is,
 * so the handlers, pilots and presigned URLs use it like any S3 endpoint.
 */
import { createServer, request } from 'node:http';
import { closeOnce, LOOPBACK, listenOnLoopback } from './listen.ts';

export interface S3CorsProxy {
  endpoint: string;
  port: number;
  stop(): Promise<void>;
}

export interface S3CorsProxyOptions {
  /** fauxqs, `http://127.0.0.1:PORT`. */
  target: string;
  port: number;
  /** Origins allowed to read objects (the web monitor's). */
  allowedOrigins: readonly string[];
}

const ALLOWED_METHODS = 'GET, HEAD';
const MAX_AGE_SEC = '3000';

export async function startS3CorsProxy(options: S3CorsProxyOptions): Promise<S3CorsProxy> {
  const target = new URL(options.target);
  const allowed = new Set(options.allowedOrigins);
  const server = createServer((req, res) => {
    const origin = req.headers.origin;
    const cors: Record<string, string> =
      origin !== undefined && allowed.has(origin)
        ? {
            'access-control-allow-origin': origin,
            'access-control-allow-methods': ALLOWED_METHODS,
            'access-control-expose-headers': 'etag, content-length',
            'access-control-max-age': MAX_AGE_SEC,
            vary: 'Origin',
          }
        : {};
    if (req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined) {
      // A preflight: S3 answers it from the bucket's CORS rule, without reaching the object.
      res.writeHead(cors['access-control-allow-origin'] === undefined ? 403 : 200, {
        ...cors,
        ...(req.headers['access-control-request-headers'] === undefined
          ? {}
          : { 'access-control-allow-headers': req.headers['access-control-request-headers'] }),
      });
      res.end();
      return;
    }
    const upstream = request(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, { ...answer.headers, ...cors });
        answer.pipe(res);
      },
    );
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  });
  const port = await listenOnLoopback(server, options.port);
  return {
    endpoint: `http://${LOOPBACK}:${port}`,
    port,
    stop: closeOnce(server),
  };
}
