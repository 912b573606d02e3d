import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCOPES } from '#core/api/common.ts';
import type { SiteView } from '#core/api/sites.ts';
import { createHandler } from '#lambdas/sites/list-sites/handler.ts';
import {
  createHandlerHarness,
  type HandlerHarness,
  httpEvent,
  invokeHttp,
  TEST_SITE,
} from '#test/support/handler-harness.ts';
import type { ErrorReply } from '../task-flow.ts';

let h: HandlerHarness;

beforeAll(async () => {
  h = await createHandlerHarness();
  await h.addSite({ siteId: 'zeta-cloud', kind: 'cloud', maxPilots: 0, status: 'test' });
  await h.addSite({ siteId: 'alpha-hpc', kind: 'hpc', tags: ['slurm'] });
  await h.deps.sites.recordCensus(
    'alpha-hpc',
    { starting: 1, idle: 0, busy: 3, draining: 0 },
    '2026-11-25T10:00:00.000Z',
  );
});

afterAll(async () => {
  await h?.close();
});

function listSites(sub: string | null = 'alice') {
  return invokeHttp<{ items: SiteView[]; nextToken?: string } & ErrorReply>(
    createHandler(h.deps),
    httpEvent({ method: 'GET', path: '/sites', sub, scopes: [SCOPES.read] }),
  );
}

describe('list-sites handler', () => {
  it('lists every site in id order, with its census where the reaper took one', async () => {
    const reply = await listSites();
    expect(reply.statusCode).toBe(200);
    expect(reply.body.items.map((s) => s.siteId)).toEqual(['alpha-hpc', TEST_SITE, 'zeta-cloud']);
    expect(reply.body.nextToken).toBeUndefined();
    expect(reply.body.items[0]).toEqual({
      siteId: 'alpha-hpc',
      kind: 'hpc',
      status: 'online',
      slot: { cores: 1, memoryMB: 2000, walltimeSec: 86_400, diskMB: 10_000 },
      maxPilots: 100,
      tags: ['slurm'],
      pilots: { starting: 1, idle: 0, busy: 3, draining: 0 },
      censusAt: '2026-11-25T10:00:00.000Z',
    });
    expect(reply.body.items[2]).toMatchObject({ status: 'test', maxPilots: 0 });
    expect(reply.body.items[2]).not.toHaveProperty('pilots');
    expect(reply.body.items[2]).not.toHaveProperty('census');
  });

  it('answers 401 to a token without a subject', async () => {
    const reply = await listSites(null);
    expect(reply.statusCode).toBe(401);
    expect(reply.body.error.code).toBe('UNAUTHORIZED');
  });
});
