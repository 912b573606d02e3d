import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorBody } from '#core/api/contract.ts';
import type { Pilot } from '#core/pilots/pilot.ts';
import { createHandler } from '#lambdas/pilots/list-pilots/handler.ts';
import {
  createHandlerHarness,
  type HandlerHarness,
  httpEvent,
  invokeHttp,
  issueFields,
} from '#test/support/handler-harness.ts';
import { heartbeat, registerPilot, USER_SCOPES } from '../task-flow.ts';

type ListReply = { pilots: Pilot[]; nextToken?: string } & ErrorBody;

let h: HandlerHarness;
const pilotIds: string[] = [];

beforeAll(async () => {
  h = await createHandlerHarness();
  for (const host of ['wn01.test', 'wn02.test', 'wn03.test']) pilotIds.push(await registerPilot(h, { host }));
  await heartbeat(h, pilotIds[1] ?? '', { state: 'idle' });
});

afterAll(async () => {
  await h?.close();
});

function listPilots(query: Record<string, string> = {}, sub: string | null = 'alice') {
  return invokeHttp<ListReply>(
    createHandler(h.deps),
    httpEvent({ method: 'GET', path: '/pilots', query, sub, scopes: USER_SCOPES }),
  );
}

describe('list-pilots handler', () => {
  it('lists the registered pilots with their state, site and host', async () => {
    const reply = await listPilots();
    expect(reply.statusCode).toBe(200);
    const byId = new Map(reply.body.pilots.map((p) => [p.pilotId, p]));
    expect([...byId.keys()].sort()).toEqual([...pilotIds].sort());
    expect(byId.get(pilotIds[0] ?? '')).toMatchObject({
      siteId: 'test-site',
      host: 'wn01.test',
      pid: 4242,
      state: 'starting',
      jobsRun: 0,
      resources: { cores: 4 },
    });
    expect(byId.get(pilotIds[1] ?? '')?.state).toBe('idle');
  });

  it('pages with limit and nextToken', async () => {
    const seen: string[] = [];
    let nextToken: string | undefined;
    let pages = 0;
    do {
      const reply = await listPilots({ limit: '2', ...(nextToken === undefined ? {} : { nextToken }) });
      expect(reply.statusCode).toBe(200);
      expect(reply.body.pilots.length).toBeLessThanOrEqual(2);
      seen.push(...reply.body.pilots.map((p) => p.pilotId));
      nextToken = reply.body.nextToken;
      pages++;
    } while (nextToken !== undefined && pages < 10);
    expect(seen.sort()).toEqual([...pilotIds].sort());
    expect(pages).toBeGreaterThanOrEqual(2);
  });

  it('answers 400 naming query.limit to a bad limit', async () => {
    const reply = await listPilots({ limit: '100000' });
    expect(reply.statusCode).toBe(400);
    expect(issueFields(reply.body)).toEqual(['query.limit']);
  });

  it('answers 401 to a token without a subject', async () => {
    expect((await listPilots({}, null)).statusCode).toBe(401);
  });
});
