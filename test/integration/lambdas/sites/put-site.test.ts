// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${name} placeholders are literal text in task specs
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCOPES } from '#core/api/common.ts';
import type { SiteView } from '#core/api/sites.ts';
import { createHandler } from '#lambdas/sites/put-site/handler.ts';
import {
  createHandlerHarness,
  type HandlerHarness,
  httpEvent,
  invokeHttp,
  issueFields,
} from '#test/support/handler-harness.ts';
import type { ErrorReply } from '../task-flow.ts';

let h: HandlerHarness;

beforeAll(async () => {
  h = await createHandlerHarness();
});

afterAll(async () => {
  await h?.close();
});

function putSite(siteId: string, body: unknown, sub: string | null = 'operator') {
  return invokeHttp<SiteView & ErrorReply>(
    createHandler(h.deps),
    httpEvent({
      method: 'PUT',
      path: '/sites/{siteId}',
      pathParameters: { siteId },
      body,
      sub,
      scopes: [SCOPES.admin],
    }),
  );
}

const SLOT = { cores: 8, memoryMB: 16_000, walltimeSec: 172_800, diskMB: 50_000 };

describe('put-site handler', () => {
  it('defines a site with the defaults filled, creating its queue and DLQ first, and answers its view', async () => {
    const reply = await putSite('cern-batch', { kind: 'grid', slot: SLOT, tags: ['el9'] });

    expect(reply.statusCode).toBe(200);
    const queueUrl = await h.deps.queue.queueUrl('cern-batch');
    const defined = {
      at: h.deps.clock.now().toISOString(),
      to: 'online',
      reason: 'site defined',
      by: 'operator:operator',
    };
    expect(reply.body).toEqual({
      siteId: 'cern-batch',
      kind: 'grid',
      status: 'online',
      slot: SLOT,
      maxPilots: 100,
      tags: ['el9'],
      queueUrl,
      statusChange: defined,
    });
    expect(await h.deps.sites.get('cern-batch')).toEqual({
      siteId: 'cern-batch',
      kind: 'grid',
      status: 'online',
      slot: SLOT,
      maxPilots: 100,
      tags: ['el9'],
      statusChange: defined,
      statusVersion: 1,
    });
    const attributes = await h.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['RedrivePolicy'] }),
    );
    expect(JSON.parse(attributes.Attributes?.RedrivePolicy ?? '{}').deadLetterTargetArn).toContain(
      'cern-batch-dlq',
    );
  });

  it('redefines a site, keeping its pilot census and the same queue', async () => {
    const first = await putSite('desy-hpc', { kind: 'hpc', maxPilots: 5 });
    await h.deps.sites.recordCensus(
      'desy-hpc',
      { starting: 0, idle: 1, busy: 2, draining: 0 },
      '2026-11-25T10:00:00.000Z',
    );

    const reply = await putSite('desy-hpc', {
      siteId: 'desy-hpc',
      kind: 'hpc',
      maxPilots: 20,
      status: 'offline',
    });

    expect(reply.statusCode).toBe(200);
    expect(reply.body).toMatchObject({
      maxPilots: 20,
      status: 'offline',
      queueUrl: first.body.queueUrl,
      pilots: { starting: 0, idle: 1, busy: 2, draining: 0 },
      censusAt: '2026-11-25T10:00:00.000Z',
    });
    expect((await h.deps.sites.get('desy-hpc'))?.census?.pilots.busy).toBe(2);
  });

  it('answers 400 to a body naming another site, storing nothing', async () => {
    const reply = await putSite('site-x', { siteId: 'site-y' });
    expect(reply.statusCode).toBe(400);
    expect(reply.body.error).toMatchObject({
      code: 'INVALID_INPUT',
      issues: [{ field: 'siteId', message: 'must be site-x (the path) or left out' }],
    });
    expect(await h.deps.sites.get('site-x')).toBeUndefined();
  });

  it('answers 400 naming every bad field of the body and of the path, storing nothing', async () => {
    const body = await putSite('site-bad', {
      kind: 'mainframe',
      slot: { cores: 0, memoryMB: 8 },
      maxPilots: -1,
      owner: 'me',
    });
    expect(body.statusCode).toBe(400);
    expect(issueFields(body.body)).toEqual(['kind', 'maxPilots', 'owner', 'slot.cores', 'slot.memoryMB']);
    expect(await h.deps.sites.get('site-bad')).toBeUndefined();

    const path = await putSite('Site_Bad', {});
    expect(path.statusCode).toBe(400);
    expect(issueFields(path.body)).toEqual(['path.siteId']);
  });

  it('records a status change as the operator’s, with the reason given; a status left out is kept', async () => {
    await putSite('ral-t1', { kind: 'grid' }, 'alice');
    const offline = await putSite('ral-t1', { kind: 'grid', status: 'offline', reason: 'downtime' }, 'bob');
    expect(offline.body.statusChange).toMatchObject({
      from: 'online',
      to: 'offline',
      reason: 'downtime',
      by: 'operator:bob',
    });
    const kept = await putSite('ral-t1', { kind: 'grid', maxPilots: 3 }, 'alice');
    expect(kept.body).toMatchObject({ status: 'offline', maxPilots: 3 });
    expect((await h.deps.sites.history('ral-t1')).map((c) => [c.to, c.by])).toEqual([
      ['online', 'operator:alice'],
      ['offline', 'operator:bob'],
    ]);
  });

  it('answers 400 naming a test task field the API would refuse, storing nothing', async () => {
    const reply = await putSite('site-badtest', { test: { payload: { command: 'sh', args: ['${oops}'] } } });
    expect(reply.statusCode).toBe(400);
    expect(issueFields(reply.body)).toEqual(['test.payload.args.0']);
    expect(await h.deps.sites.get('site-badtest')).toBeUndefined();
  });

  it('answers 401 to a token without a subject', async () => {
    expect((await putSite('site-anon', {}, null)).statusCode).toBe(401);
    expect(await h.deps.sites.get('site-anon')).toBeUndefined();
  });
});
