// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${name} placeholders are literal text in task specs
import { GetQueueAttributesCommand, ListQueuesCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queueNames } from '#adapters/sqs/sqs-job-queue.ts';
import { SCOPES } from '#core/api/common.ts';
import type { SiteView } from '#core/api/sites.ts';
import { createHandler as getSiteHandler } from '#lambdas/sites/get-site/handler.ts';
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

function getSite(siteId: string) {
  return invokeHttp<SiteView & ErrorReply>(
    getSiteHandler(h.deps),
    httpEvent({
      method: 'GET',
      path: '/sites/{siteId}',
      pathParameters: { siteId },
      sub: 'operator',
      scopes: [SCOPES.admin],
    }),
  );
}

/** Whether the site's job queue exists (a refused definition creates none). */
async function hasQueue(siteId: string): Promise<boolean> {
  const name = queueNames(h.queuePrefix, siteId).queue;
  const out = await h.sqs.send(new ListQueuesCommand({ QueueNamePrefix: name }));
  return (out.QueueUrls ?? []).some((url) => url.endsWith(`/${name}`));
}

const SUBNET = 'subnet-0123456789abcdef0';
const CLOUD_SLOT = { cores: 2, memoryMB: 7500, walltimeSec: 86_400, diskMB: 20_000 };
const EC2 = {
  type: 'ec2',
  instanceTypes: [{ type: 'm6i.2xlarge' }, { type: 'c6i.4xlarge', weight: 4 }],
  subnets: [SUBNET],
  maxInstances: 20,
  maxHourlyUsd: 4,
};

function cloudSite(provisioning: Record<string, unknown>, slot: Record<string, unknown> = CLOUD_SLOT) {
  return { kind: 'cloud', slot, provisioning: { ...EC2, ...provisioning } };
}

describe('put-site handler with cloud sites', () => {
  it('defines an EC2 site with the provisioning defaults filled, stores it and shows it', async () => {
    const reply = await putSite('aws-east', cloudSite({}));
    expect(reply.statusCode).toBe(200);
    const provisioning = { ...EC2, market: 'spot-first', pilots: 'slot', idleExitSec: 300 };
    expect(reply.body.provisioning).toEqual(provisioning);
    expect((await h.deps.sites.get('aws-east'))?.provisioning).toEqual(provisioning);
    expect((await getSite('aws-east')).body.provisioning).toEqual(provisioning);
    expect(await hasQueue('aws-east')).toBe(true);
  });

  it('defines an AWS Batch site', async () => {
    const provisioning = { type: 'batch', jobQueue: 'gluon-pilots', jobDefinition: 'gluon-pilot:2' };
    const reply = await putSite('aws-batch', { kind: 'cloud', provisioning });
    expect(reply.statusCode).toBe(200);
    expect((await h.deps.sites.get('aws-batch'))?.provisioning).toEqual({
      ...provisioning,
      maxArraySize: 100,
      idleExitSec: 300,
    });
  });

  it.each([
    [
      'an unknown instance type',
      cloudSite({ instanceTypes: [{ type: 'm5.large' }, { type: 'z1.mega' }] }),
      ['provisioning.instanceTypes.1.type'],
    ],
    ['a negative maxInstances', cloudSite({ maxInstances: -1 }), ['provisioning.maxInstances']],
    ['a negative maxHourlyUsd', cloudSite({ maxHourlyUsd: -5 }), ['provisioning.maxHourlyUsd']],
    ['no subnet', cloudSite({ subnets: undefined }), ['provisioning.subnets']],
    ['an empty subnet list', cloudSite({ subnets: [] }), ['provisioning.subnets']],
    ['a bad subnet id', cloudSite({ subnets: ['sn-1'] }), ['provisioning.subnets.0']],
    [
      'a type that fits no slot',
      cloudSite({ instanceTypes: [{ type: 'c5.large' }] }),
      ['provisioning.instanceTypes.0.type'],
    ],
    [
      'a type of another arch',
      cloudSite({ instanceTypes: [{ type: 'm7g.2xlarge' }] }),
      ['provisioning.instanceTypes.0.type'],
    ],
    [
      'a weight larger than what fits',
      cloudSite({ instanceTypes: [{ type: 'm6i.2xlarge', weight: 5 }] }),
      ['provisioning.instanceTypes.0.weight'],
    ],
    ['provisioning on a grid site', { ...cloudSite({}), kind: 'grid' }, ['provisioning']],
  ])('answers 400 to %s, naming the field, and creates and stores nothing', async (_what, body, fields) => {
    const siteId = `bad-${Math.random().toString(36).slice(2, 10)}`;
    const reply = await putSite(siteId, body);
    expect(reply.statusCode).toBe(400);
    expect(reply.body.error?.code).toBe('INVALID_INPUT');
    expect(issueFields(reply.body)).toEqual(fields);
    expect(await h.deps.sites.get(siteId)).toBeUndefined();
    expect(await hasQueue(siteId)).toBe(false);
  });

  it('says why a type fits no slot, and how many slots fit when the weight is too large', async () => {
    const small = await putSite('why-small', cloudSite({ instanceTypes: [{ type: 'c5.large' }] }));
    expect(small.body.error?.issues).toEqual([
      {
        field: 'provisioning.instanceTypes.0.type',
        message: 'c5.large fits no slot: it has 4096 MiB of memory, a slot needs 7500 MB (slot)',
      },
    ]);
    const heavy = await putSite(
      'why-heavy',
      cloudSite({ instanceTypes: [{ type: 'm6i.2xlarge', weight: 5 }] }),
    );
    expect(heavy.body.error?.issues?.[0]?.message).toMatch(
      /^at most 4: 4 slots of 2 cores, 7500 MB fit on one m6i\.2xlarge/,
    );
  });

  it('refuses a bad redefinition of a cloud site, leaving the stored one as it was', async () => {
    await putSite('aws-west', cloudSite({}));
    const reply = await putSite('aws-west', cloudSite({ maxInstances: 50 }, { ...CLOUD_SLOT, cores: 32 }));
    expect(reply.statusCode).toBe(400);
    expect(issueFields(reply.body)).toEqual([
      'provisioning.instanceTypes.0.type',
      'provisioning.instanceTypes.1.type',
    ]);
    const stored = await h.deps.sites.get('aws-west');
    expect(stored?.slot.cores).toBe(2);
    expect(stored?.provisioning).toMatchObject({ maxInstances: 20 });
  });
});
