import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchClient, DescribeJobsCommand, ListJobsCommand, SubmitJobCommand } from '@aws-sdk/client-batch';
import {
  CreateFleetCommand,
  type CreateFleetCommandInput,
  DescribeInstancesCommand,
  DescribeSpotPriceHistoryCommand,
  EC2Client,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeEc2, startFakeEc2 } from '#local/fake-ec2/fake-ec2.ts';
import { waitFor } from '#test/support/e2e.ts';

/**
 * What a booted instance runs: it reads its metadata (first without a token, then IMDSv2), writes
 * what it saw to OUT_DIR/<instance-id>.json, then (mode `stay`) watches for a Spot notice and
 * writes it to <instance-id>.notice.json, or (mode `exit`) exits.
 */
const INSTANCE_SCRIPT = `
import { writeFileSync } from 'node:fs';
const ep = process.env.GLUON_IMDS_ENDPOINT;
const withoutToken = (await fetch(ep + '/latest/meta-data/instance-id')).status;
const token = await (await fetch(ep + '/latest/api/token', { method: 'PUT', headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '60' } })).text();
const get = async (p) => {
  const r = await fetch(ep + '/latest/meta-data/' + p, { headers: { 'X-aws-ec2-metadata-token': token } });
  return r.status === 200 ? await r.text() : r.status;
};
const id = await get('instance-id');
const seen = {
  withoutToken, id, type: await get('instance-type'), lifeCycle: await get('instance-life-cycle'),
  zone: await get('placement/availability-zone'), tagKeys: await get('tags/instance'),
  site: await get('tags/instance/gluon:site'), action: await get('spot/instance-action'),
  rebalance: await get('events/recommendations/rebalance'),
};
writeFileSync(process.env.OUT_DIR + '/' + id + '.json', JSON.stringify(seen));
if (process.env.MODE === 'stay') {
  setInterval(async () => {
    const action = await get('spot/instance-action');
    if (action !== 404) writeFileSync(process.env.OUT_DIR + '/' + id + '.notice.json', action);
  }, 100);
}
`;

const BATCH_SCRIPT = `
require('node:fs').writeFileSync(process.env.OUT_DIR + '/batch-' + process.env.AWS_BATCH_JOB_ARRAY_INDEX + '.json',
  JSON.stringify({ jobId: process.env.AWS_BATCH_JOB_ID, index: process.env.AWS_BATCH_JOB_ARRAY_INDEX, site: process.env.GLUON_SITE, queue: process.env.AWS_BATCH_JQ_NAME }));
process.exit(process.env.AWS_BATCH_JOB_ARRAY_INDEX === '2' ? 3 : 0);
`;

const LAUNCH_TEMPLATE = 'lt-0fake00000000000a';
const SUBNET = 'subnet-0123456789abcdef0';
let fake: FakeEc2;
let ec2: EC2Client;
let batch: BatchClient;
let outDir: string;

const client = {
  region: 'us-east-1',
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  maxAttempts: 1,
};

beforeAll(async () => {
  outDir = mkdtempSync(join(tmpdir(), 'gluon-fake-ec2-test-'));
  fake = await startFakeEc2({
    bootInstance: (instance) => ({
      command: process.execPath,
      args: ['--input-type=module', '-e', INSTANCE_SCRIPT],
      env: { OUT_DIR: outDir, MODE: instance.tags['test:mode'] ?? 'exit' },
    }),
    bootBatchJob: () => ({ command: process.execPath, args: ['-e', BATCH_SCRIPT], env: { OUT_DIR: outDir } }),
    launchTemplateIds: [LAUNCH_TEMPLATE],
    subnets: { [SUBNET]: 'us-east-1b' },
    spotCapacity: { 'm5.large': 1 },
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

function fleet(
  overrides: Partial<CreateFleetCommandInput> & { site: string; mode?: string },
): CreateFleetCommandInput {
  const { site, mode, ...rest } = overrides;
  return {
    Type: 'instant',
    LaunchTemplateConfigs: [
      {
        LaunchTemplateSpecification: { LaunchTemplateId: LAUNCH_TEMPLATE, Version: '$Latest' },
        Overrides: [
          { InstanceType: 'm5.xlarge', SubnetId: SUBNET, WeightedCapacity: 4 },
          { InstanceType: 'm5.large', SubnetId: SUBNET, WeightedCapacity: 2 },
        ],
      },
    ],
    TargetCapacitySpecification: { TotalTargetCapacity: 4, DefaultTargetCapacityType: 'spot' },
    TagSpecifications: [
      {
        ResourceType: 'instance',
        Tags: [
          { Key: 'gluon:stage', Value: 'test' },
          { Key: 'gluon:site', Value: site },
          { Key: 'test:mode', Value: mode ?? 'exit' },
        ],
      },
    ],
    ...rest,
  };
}

function seenBy(instanceId: string): Record<string, unknown> | undefined {
  const file = join(outDir, `${instanceId}.json`);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : undefined;
}

async function states(site: string): Promise<Record<string, string>> {
  const answer = await ec2.send(
    new DescribeInstancesCommand({ Filters: [{ Name: 'tag:gluon:site', Values: [site] }] }),
  );
  return Object.fromEntries(
    (answer.Reservations ?? []).flatMap((r) => r.Instances ?? []).map((i) => [i.InstanceId, i.State?.Name]),
  );
}

describe('fake EC2 through the real EC2 client', () => {
  it('CreateFleet launches the counts by priority and price with the tags; each process reads its IMDSv2; an exited process terminates its instance', async () => {
    const answer = await ec2.send(
      new CreateFleetCommand(
        fleet({
          site: 'site-a',
          TargetCapacitySpecification: { TotalTargetCapacity: 5, DefaultTargetCapacityType: 'spot' },
        }),
      ),
    );
    // Without priorities, by Spot price per unit: a tie (0.074/4 = 0.037/2), so as listed: 5 units
    // are 2 m5.xlarge (weight 4).
    expect(answer.Errors ?? []).toEqual([]);
    const launched = answer.Instances ?? [];
    const ids = launched.flatMap((i) => i.InstanceIds ?? []);
    expect(launched.every((i) => i.Lifecycle === 'spot')).toBe(true);
    expect(launched.map((i) => [i.InstanceType, i.InstanceIds?.length])).toEqual([['m5.xlarge', 2]]);
    expect(launched[0]?.LaunchTemplateAndOverrides?.LaunchTemplateSpecification?.LaunchTemplateId).toBe(
      LAUNCH_TEMPLATE,
    );

    const request = fake.requests.find((r) => r.action === 'CreateFleet');
    expect(request?.service).toBe('ec2');
    expect(request?.params).toMatchObject({
      Type: 'instant',
      LaunchTemplateConfigs: [{ LaunchTemplateSpecification: { LaunchTemplateId: LAUNCH_TEMPLATE } }],
      TagSpecification: [
        { ResourceType: 'instance', Tag: expect.arrayContaining([{ Key: 'gluon:site', Value: 'site-a' }]) },
      ],
    });

    for (const id of ids) {
      const seen = await waitFor(async () => seenBy(id), {
        what: `${id} to read its metadata`,
        intervalMs: 50,
      });
      expect(seen).toMatchObject({
        withoutToken: 401,
        id,
        lifeCycle: 'spot',
        zone: 'us-east-1b',
        site: 'site-a',
        action: 404,
        rebalance: 404,
      });
      expect(String(seen.tagKeys).split('\n')).toEqual(['gluon:stage', 'gluon:site', 'test:mode']);
    }
    // The processes exit (mode exit): shutting-down, then terminated.
    await waitFor(
      async () => {
        const now = await states('site-a');
        return ids.every((id) => now[id] === 'terminated');
      },
      { what: 'the instances to terminate once their process exited', intervalMs: 50 },
    );
  });

  it('Spot capacity runs out per type: InsufficientInstanceCapacity in errorSet, the rest from the other type', async () => {
    const answer = await ec2.send(
      new CreateFleetCommand(
        fleet({
          site: 'site-b',
          mode: 'stay',
          LaunchTemplateConfigs: [
            {
              LaunchTemplateSpecification: { LaunchTemplateId: LAUNCH_TEMPLATE, Version: '$Latest' },
              Overrides: [
                { InstanceType: 'm5.large', SubnetId: SUBNET, WeightedCapacity: 2, Priority: 1 },
                { InstanceType: 'm5.xlarge', SubnetId: SUBNET, WeightedCapacity: 4, Priority: 2 },
              ],
            },
          ],
          TargetCapacitySpecification: { TotalTargetCapacity: 6, DefaultTargetCapacityType: 'spot' },
        }),
      ),
    );
    expect(
      answer.Errors?.map((e) => [e.ErrorCode, e.LaunchTemplateAndOverrides?.Overrides?.InstanceType]),
    ).toEqual([['InsufficientInstanceCapacity', 'm5.large']]);
    const byType = Object.fromEntries(
      (answer.Instances ?? []).map((i) => [i.InstanceType, i.InstanceIds?.length]),
    );
    expect(byType).toEqual({ 'm5.large': 1, 'm5.xlarge': 1 });

    const filtered = await ec2.send(
      new DescribeInstancesCommand({
        Filters: [
          { Name: 'tag:gluon:site', Values: ['site-b'] },
          { Name: 'instance-state-name', Values: ['pending', 'running'] },
          { Name: 'instance-type', Values: ['m5.xlarge'] },
        ],
      }),
    );
    const instances = (filtered.Reservations ?? []).flatMap((r) => r.Instances ?? []);
    expect(
      instances.map((i) => [i.InstanceType, i.InstanceLifecycle, i.Placement?.AvailabilityZone, i.SubnetId]),
    ).toEqual([['m5.xlarge', 'spot', 'us-east-1b', SUBNET]]);
    expect(instances[0]?.Tags).toEqual(expect.arrayContaining([{ Key: 'gluon:site', Value: 'site-b' }]));

    // On-Demand is not limited: the spot-first fallback gets its instance.
    const onDemand = await ec2.send(
      new CreateFleetCommand(
        fleet({
          site: 'site-b',
          TargetCapacitySpecification: { TotalTargetCapacity: 2, DefaultTargetCapacityType: 'on-demand' },
        }),
      ),
    );
    expect(onDemand.Instances?.map((i) => [i.Lifecycle, i.InstanceIds?.length])).toEqual([['on-demand', 1]]);
    const id = onDemand.Instances?.[0]?.InstanceIds?.[0] as string;
    const seen = await waitFor(async () => seenBy(id), {
      what: 'the On-Demand instance to read its metadata',
    });
    expect(seen.lifeCycle).toBe('on-demand');

    const terminated = await ec2.send(
      new TerminateInstancesCommand({ InstanceIds: instances.map((i) => i.InstanceId as string) }),
    );
    expect(terminated.TerminatingInstances?.[0]?.CurrentState?.Name).toBe('shutting-down');
    await waitFor(async () => (await states('site-b'))[instances[0]?.InstanceId as string] === 'terminated', {
      what: 'the terminated instance',
    });
  });

  it('a Spot notice is served by IMDS, and at its time the process group is killed and the instance terminated', async () => {
    const answer = await ec2.send(
      new CreateFleetCommand(
        fleet({
          site: 'site-c',
          mode: 'stay',
          TargetCapacitySpecification: { TotalTargetCapacity: 4, DefaultTargetCapacityType: 'spot' },
        }),
      ),
    );
    const id = answer.Instances?.[0]?.InstanceIds?.[0] as string;
    await waitFor(async () => seenBy(id), { what: 'the instance to boot' });
    const before = fake.instances().find((i) => i.instanceId === id);
    expect(before?.state).toBe('running');

    const response = await fetch(`${fake.endpoint}/_fake/instances/${id}/spot-interruption`, {
      method: 'POST',
      body: JSON.stringify({ inSec: 1 }),
    });
    expect(response.status).toBe(200);
    const noticeFile = join(outDir, `${id}.notice.json`);
    const notice = await waitFor(
      async () =>
        existsSync(noticeFile) &&
        (JSON.parse(readFileSync(noticeFile, 'utf8')) as { action: string; time: string }),
      { what: 'the process to see the notice', intervalMs: 50 },
    );
    expect(notice.action).toBe('terminate');
    expect(notice.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    await waitFor(async () => (await states('site-c'))[id] === 'terminated', {
      what: 'the reclaimed instance',
    });
    expect(fake.instances().find((i) => i.instanceId === id)?.signal).toBe('SIGKILL');

    const list = (await (await fetch(`${fake.endpoint}/_fake/instances`)).json()) as Array<
      Record<string, unknown>
    >;
    expect(list.find((i) => i.instanceId === id)).toMatchObject({
      state: 'terminated',
      market: 'spot',
      siteId: 'site-c',
    });
    expect(
      (await fetch(`${fake.endpoint}/_fake/instances/i-nope/rebalance`, { method: 'POST' })).status,
    ).toBe(404);
  });

  it('refuses what the real API (and the stack IAM) would: no launch template, unknown template, no stage tag', async () => {
    const noTemplate = fleet({ site: 'x' });
    noTemplate.LaunchTemplateConfigs = [{ Overrides: [{ InstanceType: 'm5.large', SubnetId: SUBNET }] }];
    await expect(ec2.send(new CreateFleetCommand(noTemplate))).rejects.toMatchObject({
      name: 'MissingParameter',
    });
    const unknown = fleet({ site: 'x' });
    unknown.LaunchTemplateConfigs = [
      {
        LaunchTemplateSpecification: { LaunchTemplateId: 'lt-0other', Version: '1' },
        Overrides: [{ InstanceType: 'm5.large', SubnetId: SUBNET }],
      },
    ];
    await expect(ec2.send(new CreateFleetCommand(unknown))).rejects.toMatchObject({
      name: 'InvalidLaunchTemplateId.NotFound',
    });
    const untagged = fleet({ site: 'x' });
    untagged.TagSpecifications = [];
    await expect(ec2.send(new CreateFleetCommand(untagged))).rejects.toMatchObject({
      name: 'UnauthorizedOperation',
      $metadata: { httpStatusCode: 403 },
    });
    const prices = await ec2.send(
      new DescribeSpotPriceHistoryCommand({
        InstanceTypes: ['m5.large'],
        ProductDescriptions: ['Linux/UNIX'],
      }),
    );
    expect(prices.SpotPriceHistory?.[0]).toMatchObject({ InstanceType: 'm5.large', SpotPrice: '0.037000' });
  });
});

describe('fake AWS Batch through the real Batch client', () => {
  it('an array job of 3 runs 3 processes with the Batch environment; ListJobs shows the statuses', async () => {
    const submitted = await batch.send(
      new SubmitJobCommand({
        jobName: 'gluon-pilot-site-d-1',
        jobQueue: 'gluon-pilots',
        jobDefinition: 'gluon-pilot:1',
        arrayProperties: { size: 3 },
        containerOverrides: { environment: [{ name: 'GLUON_SITE', value: 'site-d' }] },
        tags: { 'gluon:site': 'site-d' },
      }),
    );
    const jobId = submitted.jobId as string;
    await waitFor(
      async () => {
        const children = await batch.send(
          new ListJobsCommand({
            arrayJobId: jobId,
            filters: [{ name: 'JOB_NAME', values: ['gluon-pilot-*'] }],
          }),
        );
        return children.jobSummaryList?.every((j) => j.status === 'SUCCEEDED' || j.status === 'FAILED');
      },
      { what: 'the children to end' },
    );
    const files = readdirSync(outDir)
      .filter((f) => f.startsWith('batch-'))
      .sort();
    expect(files).toEqual(['batch-0.json', 'batch-1.json', 'batch-2.json']);
    const first = JSON.parse(readFileSync(join(outDir, 'batch-1.json'), 'utf8')) as Record<string, string>;
    expect(first).toEqual({ jobId: `${jobId}:1`, index: '1', site: 'site-d', queue: 'gluon-pilots' });

    const failed = await batch.send(new ListJobsCommand({ arrayJobId: jobId, jobStatus: 'FAILED' }));
    expect(failed.jobSummaryList?.map((j) => j.arrayProperties?.index)).toEqual([2]);
    const parents = await batch.send(
      new ListJobsCommand({
        jobQueue: 'gluon-pilots',
        filters: [{ name: 'JOB_NAME', values: ['gluon-pilot-site-d*'] }],
      }),
    );
    expect(parents.jobSummaryList?.map((j) => [j.jobId, j.status, j.arrayProperties?.size])).toEqual([
      [jobId, 'FAILED', 3],
    ]);
    const running = await batch.send(new ListJobsCommand({ jobQueue: 'gluon-pilots' }));
    expect(running.jobSummaryList).toEqual([]);
    const described = await batch.send(new DescribeJobsCommand({ jobs: [jobId] }));
    expect(described.jobs?.[0]?.arrayProperties?.statusSummary).toEqual({ SUCCEEDED: 2, FAILED: 1 });

    await expect(
      batch.send(
        new SubmitJobCommand({ jobName: 'x', jobQueue: 'other-queue', jobDefinition: 'gluon-pilot' }),
      ),
    ).rejects.toMatchObject({ name: 'ClientException' });
  });
});
