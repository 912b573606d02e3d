/**
 * The web monitor (web/) for the local stack's HTTP server, under `/web/`, as CloudFront serves
 * the web bucket on AWS: the pages, Chart.js from node_modules at `/web/vendor/chart.umd.js` (the
 * CDK deployment copies the same file into the bucket) and a `config.json` naming the API, here
 * the same origin.
 */
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const WEB_PREFIX = '/web/';
export const WEB_DIR = fileURLToPath(new URL('../web/', import.meta.url));
/** Chart.js's browser build, as the pages load it (a classic script defining `Chart`); beside its main file (the package exports no path to it). */
export const CHART_JS_FILE = join(
  dirname(createRequire(import.meta.url).resolve('chart.js')),
  'chart.umd.js',
);
export const CHART_JS_PATH = 'vendor/chart.umd.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/**
 * Answers GET/HEAD requests under `/web/` (`/web` and `/` lead to the tasks page) and returns true;
 * anything else returns false, for the API routes. Files outside web/ are never served.
 */
export async function serveWebFile(
  req: IncomingMessage,
  res: ServerResponse,
  rawPath: string,
): Promise<boolean> {
  const method = (req.method ?? 'GET').toUpperCase();
  if (method !== 'GET' && method !== 'HEAD') return false;
  if (rawPath === '/' || rawPath === '/web') {
    res.writeHead(302, { location: `${WEB_PREFIX}index.html` });
    res.end();
    return true;
  }
  if (!rawPath.startsWith(WEB_PREFIX)) return false;
  let relative: string;
  try {
    relative = decodeURIComponent(rawPath.slice(WEB_PREFIX.length)) || 'index.html';
  } catch {
    relative = '\0';
  }
  let body: Buffer | undefined;
  let file: string | undefined;
  if (relative === 'config.json') {
    // The API is at the root of the origin that serves the pages.
    body = Buffer.from(JSON.stringify({ apiUrl: '/' }));
    file = relative;
  } else if (relative === CHART_JS_PATH) {
    file = CHART_JS_FILE;
  } else {
    const candidate = normalize(join(WEB_DIR, relative));
    if (candidate.startsWith(WEB_DIR) && !relative.includes('\0') && !candidate.endsWith(sep))
      file = candidate;
  }
  if (body === undefined && file !== undefined) body = await readFile(file).catch(() => undefined);
  if (body === undefined || file === undefined) {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(`not found: ${rawPath}`);
    return true;
  }
  res.writeHead(200, {
    'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
    'content-length': body.length,
    // Pages change while a developer edits them; the vendored library does not.
    'cache-control': file === CHART_JS_FILE ? 'max-age=3600' : 'no-cache',
    'x-content-type-options': 'nosniff',
  });
  res.end(method === 'HEAD' ? undefined : body);
  return true;
}
