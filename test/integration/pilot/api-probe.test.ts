import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '#local/stand-ins.ts';
import { probeApi } from '#pilot/health/api-probe.ts';

let server: Server | undefined;

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

async function serve(
  date: string | undefined,
): Promise<{ url: string; seen: Array<{ path?: string; auth?: string }> }> {
  const seen: Array<{ path?: string; auth?: string }> = [];
  const listening = createServer((req, res) => {
    seen.push({ path: req.url, auth: req.headers.authorization });
    res.sendDate = date === undefined;
    if (date !== undefined) res.setHeader('date', date);
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end('{"message":"Not Found"}');
  });
  server = listening;
  await new Promise<void>((resolve) => listening.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(listening.address() as AddressInfo).port}/prod/`, seen };
}

describe('probeApi', () => {
  it('GETs the base URL without a token; any answer is reachable, with the Date header read', async () => {
    const { url, seen } = await serve('Wed, 25 Nov 2026 12:00:00 GMT');
    const probe = await probeApi(url);
    expect(probe).toMatchObject({
      reachable: true,
      status: 404,
      serverDate: Date.parse('2026-11-25T12:00:00Z'),
    });
    expect(seen).toEqual([{ path: '/prod/', auth: undefined }]);
  });

  it('gives the server’s own date when it sends one by default', async () => {
    const { url } = await serve(undefined);
    const probe = await probeApi(url);
    expect(probe.reachable).toBe(true);
    if (probe.reachable) expect(Math.abs((probe.serverDate ?? 0) - Date.now())).toBeLessThan(5000);
  });

  it('reports unreachable after its tries', async () => {
    const port = await freePort();
    const probe = await probeApi(`http://127.0.0.1:${port}`, { tries: 2, backoffMs: 10 });
    expect(probe).toEqual({ reachable: false, error: 'ECONNREFUSED', tries: 2 });
  });
});
