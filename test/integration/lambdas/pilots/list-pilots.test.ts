import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PilotView } from '#core/api/pilots.ts';
import { createHandler } from '#lambdas/pilots/list-pilots/handler.ts';
import {
  createHandlerHarness,
  type HandlerHarness,
  httpEvent,
  invokeHttp,
  issueFields,
  TEST_SITE,
} from '#test/support/handler-harness.ts';
import {
  claimed,
  type ErrorReply,
  generationSpec,
  nth,
  PILOT_RESOURCES,
  refOf,
  registerPilot,
  runningTask,
  USER_SCOPES,
} from '../task-flow.ts';

type ListReply = { items: PilotView[]; nextToken?: string } & ErrorReply;

let h: HandlerHarness;
let starting: string;
let busy: string;
let exited: string;
let busyJob: string;

beforeAll(async () => {
  h = await createHandlerHarness();
  starting = await registerPilot(h, { host: 'wn01.test' });
  busy = await registerPilot(h, { host: 'wn02.test' });
  exited = await registerPilot(h, { host: 'wn03.test' });
  const { taskId, messages } = await runningTask(h, generationSpec(1));
  await claimed(h, busy, refOf(nth(messages, 0)));
  busyJob = `${taskId}.0.1`;
  await h.deps.leases.renew(busy, {
    state: 'busy',
    expiresAt: Date.parse('2026-11-25T10:02:00.000Z'),
    beatAt: '2026-11-25T10:00:00.000Z',
    jobsRun: 1,
  });
  await h.deps.pilots.end(exited, { state: 'exited', at: '2026-11-25T09:00:00.000Z', jobsRun: 4 });
  await h.deps.leases.remove(exited);
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
  it('lists the pilots, the live ones with their lease and its state, the gone ones with their end', async () => {
    const reply = await listPilots();
    expect(reply.statusCode).toBe(200);
    const byId = new Map(reply.body.items.map((p) => [p.pilotId, p]));
    expect([...byId.keys()].sort()).toEqual([starting, busy, exited].sort());
    expect(byId.get(busy)).toEqual({
      pilotId: busy,
      siteId: TEST_SITE,
      host: 'wn02.test',
      pid: 4242,
      version: 'test',
      resources: PILOT_RESOURCES,
      state: 'busy',
      registeredAt: expect.any(String),
      jobsRun: 1,
      lease: {
        state: 'busy',
        expiresAt: '2026-11-25T10:02:00.000Z',
        beatAt: '2026-11-25T10:00:00.000Z',
        jobs: [busyJob],
      },
    });
    expect(byId.get(starting)).toMatchObject({
      state: 'starting',
      jobsRun: 0,
      lease: { state: 'starting', jobs: [] },
    });
    expect(byId.get(exited)).toMatchObject({
      state: 'exited',
      endedAt: '2026-11-25T09:00:00.000Z',
      jobsRun: 4,
    });
    expect(byId.get(exited)).not.toHaveProperty('lease');
  });

  it('pages with limit and nextToken', async () => {
    const seen: string[] = [];
    let nextToken: string | undefined;
    let pages = 0;
    do {
      const reply = await listPilots({ limit: '2', ...(nextToken === undefined ? {} : { nextToken }) });
      expect(reply.statusCode).toBe(200);
      expect(reply.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...reply.body.items.map((p) => p.pilotId));
      nextToken = reply.body.nextToken;
      pages++;
    } while (nextToken !== undefined && pages < 10);
    expect(seen.sort()).toEqual([starting, busy, exited].sort());
    expect(pages).toBeGreaterThanOrEqual(2);
  });

  it('answers 400 naming query.limit or query.nextToken to a bad query', async () => {
    const limit = await listPilots({ limit: '100000' });
    expect(limit.statusCode).toBe(400);
    expect(issueFields(limit.body)).toEqual(['query.limit']);
    for (const nextToken of ['not a token', Buffer.from('{"taskId":"t-1"}').toString('base64url')]) {
      const token = await listPilots({ nextToken });
      expect(token.statusCode, nextToken).toBe(400);
      expect(issueFields(token.body)).toEqual(['query.nextToken']);
    }
  });

  it('answers 401 to a token without a subject', async () => {
    expect((await listPilots({}, null)).statusCode).toBe(401);
  });
});
