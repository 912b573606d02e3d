import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PilotView, RegisterPilotResponse } from '#core/api/pilots.ts';
import { PRICE_TABLE_DATE } from '#core/provisioning/prices.ts';
import { createHandler as listHandler } from '#lambdas/pilots/list-pilots/handler.ts';
import { createHandler } from '#lambdas/pilots/register-pilot/handler.ts';
import {
  createHandlerHarness,
  type HandlerHarness,
  httpEvent,
  invokeHttp,
  issueFields,
} from '#test/support/handler-harness.ts';
import { type ErrorReply, PILOT_RESOURCES, PILOT_SCOPES, USER_SCOPES } from '../task-flow.ts';

const EC2_SITE = 'aws-it';
const BATCH_SITE = 'aws-batch-it';
let h: HandlerHarness;

beforeAll(async () => {
  h = await createHandlerHarness();
  await h.addSite({
    siteId: EC2_SITE,
    kind: 'cloud',
    slot: { cores: 2, memoryMB: 7500 },
    provisioning: {
      type: 'ec2',
      instanceTypes: [{ type: 'm6i.2xlarge' }],
      subnets: ['subnet-0123abcd'],
      maxInstances: 4,
      maxHourlyUsd: 2,
    },
  });
  await h.addSite({
    siteId: BATCH_SITE,
    kind: 'cloud',
    slot: { cores: 1, memoryMB: 2048 },
    provisioning: {
      type: 'batch',
      jobQueue: 'gluon-pilots',
      jobDefinition: 'gluon-pilot',
      hourlyUsdPerPilot: 0.05,
    },
  });
});

afterAll(async () => {
  await h?.close();
});

function register(siteId: string, cloud: unknown) {
  return invokeHttp<RegisterPilotResponse & ErrorReply>(
    createHandler(h.deps),
    httpEvent({
      method: 'POST',
      path: '/pilots',
      body: { siteId, host: 'ip-10-0-1-17', pid: 4100, resources: PILOT_RESOURCES, cloud },
      sub: `pilot:${siteId}`,
      scopes: PILOT_SCOPES,
    }),
  );
}

async function listed(pilotId: string): Promise<PilotView | undefined> {
  const reply = await invokeHttp<{ items: PilotView[] }>(
    listHandler(h.deps),
    httpEvent({ method: 'GET', path: '/pilots', query: { limit: '100' }, sub: 'alice', scopes: USER_SCOPES }),
  );
  return reply.body.items.find((pilot) => pilot.pilotId === pilotId);
}

const SPOT_NODE = {
  provider: 'ec2',
  instanceId: 'i-0123456789abcdef0',
  instanceType: 'm6i.2xlarge',
  market: 'spot',
  availabilityZone: 'us-east-1b',
  pilotsOnInstance: 4,
};

describe('register-pilot handler with cloud pilots', () => {
  it('stores an EC2 pilot with its node and its part of the instance price, and GET /pilots shows them', async () => {
    const reply = await register(EC2_SITE, SPOT_NODE);
    expect(reply.statusCode).toBe(200);
    const cost = { hourlyUsd: 0.0384, instanceHourlyUsd: 0.1536, source: 'table', asOf: PRICE_TABLE_DATE };
    const stored = await h.deps.pilots.get(reply.body.pilotId);
    expect(stored).toMatchObject({ cloud: SPOT_NODE, cost });
    expect(await listed(reply.body.pilotId)).toMatchObject({ cloud: SPOT_NODE, cost, state: 'starting' });
  });

  it('stores an AWS Batch pilot at the site price per pilot', async () => {
    const node = { provider: 'batch', batchJobId: '8c1e2f3a-4b5c-6d7e-8f90-a1b2c3d4e5f6:3' };
    const reply = await register(BATCH_SITE, node);
    expect(reply.statusCode).toBe(200);
    expect(await h.deps.pilots.get(reply.body.pilotId)).toMatchObject({
      cloud: { ...node, pilotsOnInstance: 1 },
      cost: { hourlyUsd: 0.05, instanceHourlyUsd: 0.05, source: 'site', asOf: h.clock.now().toISOString() },
    });
  });

  it('registers, unpriced, a pilot on an instance type the price table does not know', async () => {
    const reply = await register(EC2_SITE, { ...SPOT_NODE, instanceType: 'x9.huge' });
    expect(reply.statusCode).toBe(200);
    const stored = await h.deps.pilots.get(reply.body.pilotId);
    expect(stored?.cloud?.instanceType).toBe('x9.huge');
    expect(stored?.cost).toBeUndefined();
  });

  it('answers 400 naming a bad cloud node field, storing no pilot', async () => {
    const before = (await h.deps.pilots.list({ limit: 1000 })).items.length;
    const reply = await register(EC2_SITE, { ...SPOT_NODE, market: 'reserved', provider: 'gce' });
    expect(reply.statusCode).toBe(400);
    expect(issueFields(reply.body)).toEqual(['cloud.market', 'cloud.provider']);
    expect((await h.deps.pilots.list({ limit: 1000 })).items.length).toBe(before);
  });
});
