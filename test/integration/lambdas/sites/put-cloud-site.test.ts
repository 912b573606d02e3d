import { ListQueuesCommand } from '@aws-sdk/client-sqs';
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

function putSite(siteId: string, body: unknown) {
  return invokeHttp<SiteView & ErrorReply>(
    createHandler(h.deps),
    httpEvent({
      method: 'PUT',
      path: '/sites/{siteId}',
      pathParameters: { siteId },
      body,
      sub: 'operator',
      scopes: [SCOPES.admin],
    }),
  );
}

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
const SLOT = { cores: 2, memoryMB: 7500, walltimeSec: 86_400, diskMB: 20_000 };
const EC2 = {
  type: 'ec2',
  instanceTypes: [{ type: 'm6i.2xlarge' }, { type: 'c6i.4xlarge', weight: 4 }],
  subnets: [SUBNET],
  maxInstances: 20,
  maxHourlyUsd: 4,
};

function cloudSite(provisioning: Record<string, unknown>, slot: Record<string, unknown> = SLOT) {
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
    const reply = await putSite('aws-west', cloudSite({ maxInstances: 50 }, { ...SLOT, cores: 32 }));
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
