import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SiteDemand } from '#core/api/contract.ts';
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
let answer: { status: number; body: string } = { status: 200, body: JSON.stringify(demand) };
const seen: Array<{ url: string | undefined; authorization: string | undefined }> = [];

beforeAll(async () => {
  server = createServer((request, response) => {
    seen.push({ url: request.url, authorization: request.headers.authorization });
    response.writeHead(answer.status, { 'content-type': 'application/json' });
    response.end(answer.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  apiUrl = `http://127.0.0.1:${address.port}/stage/`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
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
  it('GETs the site demand with the pilot token, keeping a stage prefix', async () => {
    answer = { status: 200, body: JSON.stringify(demand) };
    expect(await demandClient({ apiUrl, token: 'tok' })('cern')).toEqual(demand);
    expect(seen.at(-1)).toEqual({ url: '/stage/sites/cern/demand', authorization: 'Bearer tok' });
  });

  it('reports an HTTP error with its status', async () => {
    answer = { status: 403, body: '{"error":{"code":"FORBIDDEN","message":"not your site"}}' };
    const error = await failure(demandClient({ apiUrl, token: 'tok' })('cern'));
    expect(error.status).toBe(403);
    expect(error.message).toMatch(/HTTP 403.*not your site/);
  });

  it('rejects an answer that is not a demand rather than guess counts', async () => {
    answer = { status: 200, body: JSON.stringify({ ...demand, pilotsWanted: -3 }) };
    expect((await failure(demandClient({ apiUrl, token: 'tok' })('cern'))).message).toMatch(/pilotsWanted/);
    answer = { status: 200, body: 'not json' };
    expect((await failure(demandClient({ apiUrl, token: 'tok' })('cern'))).message).toMatch(/not JSON/);
  });

  it('says why the API could not be reached', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const address = closed.address();
    await new Promise((resolve) => closed.close(resolve));
    if (address === null || typeof address === 'string') throw new Error('no address');
    const error = await failure(
      demandClient({ apiUrl: `http://127.0.0.1:${address.port}`, token: 't' })('cern'),
    );
    expect(error.message).toMatch(/ECONNREFUSED/);
    expect(error.status).toBeUndefined();
  });
});
