/**
 * The cloud provisioner against the fake EC2/Batch endpoint (local/fake-ec2) through the real SDK
 * clients and the scheduled function's handler: the requests it sends (instance types, weights,
 * tags, launch template, counts, market) and the decisions it records.
 */
import { BatchClient } from '@aws-sdk/client-batch';
import { EC2Client } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SdkBatchPilots } from '#adapters/batch/batch-pilots.ts';
import { SdkEc2Fleet } from '#adapters/ec2/ec2-fleet.ts';
import { jobMessage } from '#core/jobs/job-message.ts';
import type { SiteInput } from '#core/sites/site.ts';
import { createHandler } from '#lambdas/provisioning/provision-pilots/handler.ts';
import { type FakeEc2, startFakeEc2 } from '#local/fake-ec2/fake-ec2.ts';
import { invoke } from '#test/support/handler-harness.ts';
import { type InMemoryDeps, inMemoryDeps } from '#test/support/in-memory-ports.ts';
import { addSite } from '#test/unit/core/scenario.ts';

const LAUNCH_TEMPLATE = 'lt-0fake00000000000a';
const SUBNETS = ['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1'];
const SLOT = { cores: 1, memoryMB: 2000, walltimeSec: 86_400, diskMB: 10_000 };
const client = {
  region: 'us-east-1',
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  maxAttempts: 1,
};

let fake: FakeEc2;
let ec2: EC2Client;
let batch: BatchClient;

beforeAll(async () => {
  fake = await startFakeEc2({
    // An instance's "pilots": a process that stays until the fake stops it.
    bootInstance: () => ({ command: process.execPath, args: ['-e', 'setInterval(() => {}, 1000)'], env: {} }),
    bootBatchJob: () => ({ command: process.execPath, args: ['-e', 'setInterval(() => {}, 1000)'], env: {} }),
    launchTemplateIds: [LAUNCH_TEMPLATE],
    // Spot has one m5.xlarge and no m5.large: spot-first falls back to On-Demand.
    spotCapacity: { 'm5.xlarge': 1, 'm5.large': 0 },
    jobQueues: ['gluon-pilots'],
  });
  ec2 = new EC2Client({ ...client, endpoint: fake.endpoint });
  batch = new BatchClient({ ...client, endpoint: fake.endpoint });
});

afterAll(async () => {
  ec2?.destroy();
  batch?.destroy();
  await fake?.stop();
});

function handlerOf(deps: InMemoryDeps) {
  return createHandler(
    {
      ...deps,
      ec2: new SdkEc2Fleet(ec2, {
        stage: 'itest',
        launchTemplates: { x86_64: { id: LAUNCH_TEMPLATE, version: '$Latest' } },
      }),
      batch: new SdkBatchPilots(batch),
    },
    { stage: 'itest', batchJobQueues: ['gluon-pilots'] },
  );
}

/** What EventBridge Scheduler hands the function (the input is not used). */
const SCHEDULED = { version: '0', 'detail-type': 'Scheduled Event', source: 'aws.scheduler', detail: {} };

function run(deps: InMemoryDeps): Promise<unknown> {
  return invoke(handlerOf(deps), SCHEDULED, 'provision-pilots');
}

async function queueJobs(deps: InMemoryDeps, siteId: string, count: number): Promise<void> {
  await deps.queue.send(
    Array.from({ length: count }, (_, jobIndex) =>
      jobMessage({ taskId: 't-000042', jobIndex, attempt: 1 }, siteId, 0, { cores: 1, memoryMB: 2000 }),
    ),
  );
}

function ec2Site(siteId: string, overrides: Partial<SiteInput> = {}): SiteInput {
  return {
    siteId,
    kind: 'cloud',
    slot: SLOT,
    maxPilots: 50,
    provisioning: {
      type: 'ec2',
      instanceTypes: [
        { type: 'm5.large', weight: 2 },
        { type: 'm5.xlarge', weight: 4 },
      ],
      market: 'spot-first',
      subnets: SUBNETS,
      maxInstances: 3,
      maxHourlyUsd: 5,
      idleExitSec: 30,
    },
    ...overrides,
  };
}

function fleetRequests(since: number) {
  return fake.requests.slice(since).filter((r) => r.action === 'CreateFleet');
}

/** Tag values of a CreateFleet's TagSpecification of a resource type. */
function tagsOf(params: Record<string, unknown>, resourceType: string): Record<string, string> {
  const specs = params.TagSpecification as Array<{
    ResourceType: string;
    Tag: Array<{ Key: string; Value: string }>;
  }>;
  const spec = specs.find((s) => s.ResourceType === resourceType);
  return Object.fromEntries((spec?.Tag ?? []).map((t) => [t.Key, t.Value]));
}

describe('provision-pilots against the fake EC2', () => {
  it('asks Spot first, then On-Demand for what Spot could not give, within maxInstances; tags, template, weights; records the decision', async () => {
    const deps = inMemoryDeps({ start: '2026-12-02T14:00:00.000Z' });
    await addSite(deps, ec2Site('cloud-a'));
    await queueJobs(deps, 'cloud-a', 10);
    const since = fake.requests.length;

    const result = await run(deps);
    // Spot's InsufficientInstanceCapacity is in the site's decision (a site with errors), On-Demand made up for it.
    expect(result).toMatchObject({ sites: 1, started: 3, errors: 1 });

    const [spot, onDemand, ...more] = fleetRequests(since);
    expect(more).toEqual([]);
    // 10 slots wanted; 3 instances of at least 2 slots: 6 units at most.
    expect(spot?.params).toMatchObject({
      Type: 'instant',
      ClientToken: `cloud-a-s-${Date.parse('2026-12-02T14:00:00.000Z') / 1000}`,
      TargetCapacitySpecification: { TotalTargetCapacity: '6', DefaultTargetCapacityType: 'spot' },
      SpotOptions: { AllocationStrategy: 'price-capacity-optimized' },
      LaunchTemplateConfigs: [
        { LaunchTemplateSpecification: { LaunchTemplateId: LAUNCH_TEMPLATE, Version: '$Latest' } },
      ],
    });
    const configs = (spot?.params.LaunchTemplateConfigs ?? []) as Array<{
      Overrides: Array<Record<string, string>>;
    }>;
    const overrides = configs[0]?.Overrides;
    // Every type in every subnet, with its weight.
    expect(
      (overrides ?? []).map((o) => `${o.InstanceType}/${o.SubnetId}/${o.WeightedCapacity}`).sort(),
    ).toEqual([
      `m5.large/${SUBNETS[0]}/2`,
      `m5.large/${SUBNETS[1]}/2`,
      `m5.xlarge/${SUBNETS[0]}/4`,
      `m5.xlarge/${SUBNETS[1]}/4`,
    ]);
    const tags = {
      'gluon:stage': 'itest',
      'gluon:site': 'cloud-a',
      'gluon:pilots': 'slot',
      'gluon:slot-cores': '1',
      'gluon:slot-memory-mb': '2000',
      'gluon:idle-exit-sec': '30',
      // The site set its weights itself: the instance starts as many pilots as counted on.
      'gluon:weights': 'm5.large=2 m5.xlarge=4',
    };
    expect(tagsOf(spot?.params ?? {}, 'instance')).toEqual(tags);
    expect(tagsOf(spot?.params ?? {}, 'volume')).toEqual(tags);
    // Spot gave one m5.xlarge (4 slots): On-Demand for the rest, within the 2 instances left.
    expect(onDemand?.params).toMatchObject({
      TargetCapacitySpecification: { TotalTargetCapacity: '4', DefaultTargetCapacityType: 'on-demand' },
      OnDemandOptions: { AllocationStrategy: 'lowest-price' },
    });

    const instances = fake.instances().filter((i) => i.siteId === 'cloud-a');
    expect(instances.map((i) => `${i.instanceType}/${i.market}`).sort()).toEqual([
      'm5.large/on-demand',
      'm5.large/on-demand',
      'm5.xlarge/spot',
    ]);

    const decision = (await deps.sites.get('cloud-a'))?.provisioned;
    expect(decision).toMatchObject({
      type: 'ec2',
      queuedJobs: 10,
      pilotsWanted: 10,
      pending: 3,
      running: 0,
      slots: 8,
      started: 3,
      limitedBy: 'maxInstances',
      requested: [
        { market: 'spot', slots: 6, count: 3 },
        { market: 'on-demand', slots: 4, count: 2 },
      ],
    });
    expect(decision?.errors.join(' ')).toMatch(/InsufficientInstanceCapacity/);
    expect(decision?.prices['m5.large/on-demand']).toMatchObject({ source: 'table' });
    expect(decision?.prices['m5.xlarge/spot']?.source).toMatch(/spot-history|table/);
    expect(decision?.summary).toMatch(
      /^Asked for 6 slots spot, then 4 slots on-demand of 10 wanted, started 3 instances: held back by maxInstances 3/,
    );
    expect(await deps.sites.provisioningHistory('cloud-a')).toHaveLength(1);

    // Next cycle: the instances are the site's (listed by its tags); nothing more fits: nothing asked.
    deps.clock.advance(60_000);
    const next = fake.requests.length;
    await run(deps);
    expect(fleetRequests(next)).toEqual([]);
    const describe = fake.requests.slice(next).find((r) => r.action === 'DescribeInstances');
    expect(JSON.stringify(describe?.params)).toContain('tag:gluon:site');
    expect((await deps.sites.get('cloud-a'))?.provisioned).toMatchObject({
      pending: expect.any(Number),
      slots: 8,
      requested: [],
      started: 0,
      limitedBy: 'maxInstances',
    });
  });

  it('asks nothing without queued work (no-demand), and nothing for an offline site (site-status)', async () => {
    const deps = inMemoryDeps({ start: '2026-12-02T14:10:00.000Z' });
    await addSite(deps, ec2Site('cloud-idle'));
    await addSite(deps, ec2Site('cloud-off', { status: 'offline' }));
    await queueJobs(deps, 'cloud-off', 5);
    const since = fake.requests.length;
    await run(deps);
    expect(fleetRequests(since)).toEqual([]);
    expect((await deps.sites.get('cloud-idle'))?.provisioned).toMatchObject({
      limitedBy: 'no-demand',
      requested: [],
      summary: expect.stringMatching(/^Nothing asked: no queued work/),
    });
    expect((await deps.sites.get('cloud-off'))?.provisioned).toMatchObject({
      limitedBy: 'site-status',
      requested: [],
      summary: expect.stringMatching(/offline/),
    });
  });

  it("an EC2 refusal is the site's decision error; the other sites are provisioned", async () => {
    const deps = inMemoryDeps({ start: '2026-12-02T14:20:00.000Z' });
    // aarch64 slots: no launch template for the architecture here.
    await addSite(
      deps,
      ec2Site('cloud-arm', {
        slot: { ...SLOT, arch: 'aarch64' },
        provisioning: {
          type: 'ec2',
          instanceTypes: [{ type: 'm6g.large', weight: 2 }],
          market: 'on-demand',
          subnets: SUBNETS,
          maxInstances: 2,
          maxHourlyUsd: 5,
        },
      }),
    );
    await addSite(deps, {
      siteId: 'cloud-b',
      kind: 'cloud',
      slot: SLOT,
      maxPilots: 10,
      provisioning: {
        type: 'batch',
        jobQueue: 'gluon-pilots',
        jobDefinition: 'gluon-pilot',
        maxArraySize: 3,
        hourlyUsdPerPilot: 0.05,
      },
    });
    await addSite(deps, {
      siteId: 'cloud-q',
      kind: 'cloud',
      slot: SLOT,
      provisioning: { type: 'batch', jobQueue: 'someone-elses-queue', jobDefinition: 'gluon-pilot' },
    });
    for (const site of ['cloud-arm', 'cloud-b', 'cloud-q']) await queueJobs(deps, site, 4);
    const since = fake.requests.length;
    const result = await run(deps);
    expect(result).toMatchObject({ sites: 3, started: 4, errors: 2 });

    expect((await deps.sites.get('cloud-arm'))?.provisioned).toMatchObject({
      limitedBy: 'error',
      started: 0,
      errors: [expect.stringMatching(/no launch template for aarch64/)],
    });
    // A queue the stage does not allow: no call at all.
    expect((await deps.sites.get('cloud-q'))?.provisioned).toMatchObject({
      limitedBy: 'error',
      errors: [expect.stringMatching(/someone-elses-queue is not one the stage allows/)],
    });
    const submits = fake.requests
      .slice(since)
      .filter((r) => r.action === 'submitjob' || r.action === 'SubmitJob');
    expect(submits.map((s) => s.params.jobQueue)).toEqual(['gluon-pilots', 'gluon-pilots']);
    expect(submits.map((s) => (s.params.arrayProperties as { size?: number } | undefined)?.size)).toEqual([
      3,
      undefined,
    ]);
    expect(submits[0]?.params).toMatchObject({
      jobDefinition: 'gluon-pilot',
      jobName: expect.stringMatching(/^gluon-pilot-cloud-b_\d+_0$/),
      tags: { 'gluon:site': 'cloud-b', 'gluon:stage': 'itest' },
      containerOverrides: { environment: expect.arrayContaining([{ name: 'GLUON_SITE', value: 'cloud-b' }]) },
    });
    expect((await deps.sites.get('cloud-b'))?.provisioned).toMatchObject({
      type: 'batch',
      started: 4,
      requested: [{ market: 'on-demand', count: 4, hourlyUsd: 0.2 }],
      limitedBy: 'none',
    });

    // The pilot jobs are counted from Batch next cycle: nothing asked twice.
    deps.clock.advance(60_000);
    const next = fake.requests.length;
    await run(deps);
    expect(fake.requests.slice(next).filter((r) => /submitjob/i.test(r.action))).toEqual([]);
    expect((await deps.sites.get('cloud-b'))?.provisioned).toMatchObject({
      slots: 4,
      started: 0,
      limitedBy: 'no-demand',
    });
  });
});
