/**
 * The factory's demand client against a small HTTP server: the typed client's GET of
 * /sites/{siteId}/demand, its answer checked, every failure a DemandRequestError.
 */
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { SiteDemand } from '#core/api/sites.ts';
import { freePort } from '#local/stand-ins.ts';
import { DemandRequestError, demandClient } from '#pilot/factory/demand-client.ts';

const demand: SiteDemand = {
  siteId: 'cern',
  status: 'online',
  queuedJobs: 5,
  pilots: { starting: 1, idle: 0, busy: 2, draining: 0 },
  maxPilots: 10,
  pilotsWanted: 4,
  slot: { cores: 1, memoryMB: 2000, walltimeSec: 3600, diskMB: 1000 },
};

let server: Server;
let apiUrl: string;
/** What the server answers next (each request takes the first; the last one stays). */
let answers: Array<{ status: number; body: string }> = [];
const seen: Array<{
  method: string | undefined;
  url: string | undefined;
  authorization: string | undefined;
}> = [];

beforeAll(async () => {
  server = createServer((request, response) => {
    seen.push({ method: request.method, url: request.url, authorization: request.headers.authorization });
    const answer = answers.length > 1 ? answers.shift() : answers[0];
    response.writeHead(answer?.status ?? 500, { 'content-type': 'application/json' });
    response.end(answer?.body ?? '');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  apiUrl = `http://127.0.0.1:${address.port}/stage/`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  seen.length = 0;
  answers = [{ status: 200, body: JSON.stringify(demand) }];
});

async function failure(promise: Promise<unknown>): Promise<DemandRequestError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DemandRequestError);
  return error as DemandRequestError;
}

describe('demandClient', () => {
  it('GETs the site demand with the pilot token when the API URL has a stage prefix', async () => {
    expect(await demandClient({ apiUrl, token: 'tok' })('cern')).toEqual(demand);
    expect(seen).toEqual([{ method: 'GET', url: '/stage/sites/cern/demand', authorization: 'Bearer tok' }]);
  });

  it('fails with the status and the API’s message when the API refuses', async () => {
    answers = [{ status: 403, body: '{"error":{"code":"FORBIDDEN","message":"not your site"}}' }];
    const error = await failure(demandClient({ apiUrl, token: 'tok' })('cern'));
    expect(error.status).toBe(403);
    expect(error.code).toBe('DEMAND_REQUEST_FAILED');
    expect(error.message).toMatch(/^GET \/sites\/cern\/demand: .*HTTP 403 FORBIDDEN: not your site/);
    expect(seen).toHaveLength(1);
  });

  it('tries once more when the API answers 503, and returns the demand of the second answer', async () => {
    answers = [
      { status: 503, body: '{"error":{"code":"UNAVAILABLE","message":"busy"}}' },
      { status: 200, body: JSON.stringify(demand) },
    ];
    expect(await demandClient({ apiUrl, token: 'tok' })('cern')).toEqual(demand);
    expect(seen).toHaveLength(2);
  });

  it('rejects an answer that is not a demand rather than guess counts', async () => {
    const { pilotsWanted: _dropped, ...withoutWanted } = demand;
    answers = [{ status: 200, body: JSON.stringify(withoutWanted) }];
    expect((await failure(demandClient({ apiUrl, token: 'tok' })('cern'))).message).toMatch(
      /does not match the API \(pilotsWanted/,
    );
    answers = [{ status: 200, body: 'not json' }];
    expect((await failure(demandClient({ apiUrl, token: 'tok' })('cern'))).message).toMatch(/not JSON/);
  });

  it('says why when the API cannot be reached, with no status', async () => {
    const port = await freePort();
    const error = await failure(demandClient({ apiUrl: `http://127.0.0.1:${port}`, token: 't' })('cern'));
    expect(error.message).toMatch(/ECONNREFUSED/);
    expect(error.status).toBeUndefined();
  });

  it('rethrows the abort as it is when the caller’s signal ends the wait', async () => {
    const never = createServer(() => {});
    await new Promise<void>((resolve) => never.listen(0, '127.0.0.1', resolve));
    try {
      const address = never.address();
      if (address === null || typeof address === 'string') throw new Error('no address');
      const stop = new AbortController();
      const pending = demandClient({ apiUrl: `http://127.0.0.1:${address.port}`, token: 't' })(
        'cern',
        stop.signal,
      );
      stop.abort();
      const error = await pending.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeDefined();
      expect(error).not.toBeInstanceOf(DemandRequestError);
    } finally {
      never.closeAllConnections();
      await new Promise((resolve) => never.close(resolve));
    }
  });
});
