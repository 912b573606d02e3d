import { describe, expect, it } from 'vitest';
import { type PutSiteRequest, PutSiteRequestSchema } from '#core/api/sites.ts';
import { fieldIssues } from '#core/errors.ts';
import { cloudSiteIssues } from '#core/provisioning/cloud-site-issues.ts';
import { SiteSchema } from '#core/sites/site.ts';

const SUBNET = 'subnet-0123456789abcdef0';

function ec2Site(provisioning: Record<string, unknown>, slot: Record<string, unknown> = {}) {
  return {
    siteId: 'aws-east',
    kind: 'cloud',
    slot: { cores: 1, memoryMB: 2000, ...slot },
    provisioning: {
      type: 'ec2',
      instanceTypes: [{ type: 'm5.xlarge' }],
      subnets: [SUBNET],
      maxInstances: 10,
      maxHourlyUsd: 5,
      ...provisioning,
    },
  };
}

/** The issues of a site definition as the API finds them: the schema's, then cloudSiteIssues. */
function issuesOf(input: unknown) {
  const parsed = PutSiteRequestSchema.safeParse(input);
  if (!parsed.success) return fieldIssues(parsed.error.issues);
  return cloudSiteIssues(parsed.data);
}

describe('cloud site definitions', () => {
  it('takes an EC2 site and fills the provisioning defaults', () => {
    const site = SiteSchema.parse(ec2Site({}));
    expect(cloudSiteIssues(site)).toEqual([]);
    expect(site.provisioning).toEqual({
      type: 'ec2',
      instanceTypes: [{ type: 'm5.xlarge' }],
      market: 'spot-first',
      subnets: [SUBNET],
      maxInstances: 10,
      maxHourlyUsd: 5,
      pilots: 'slot',
      idleExitSec: 300,
    });
  });

  it('takes an AWS Batch site', () => {
    const input: PutSiteRequest = {
      kind: 'cloud',
      provisioning: { type: 'batch', jobQueue: 'gluon-pilots', jobDefinition: 'gluon-pilot:3' },
    };
    expect(issuesOf(input)).toEqual([]);
  });

  it('takes weights up to what fits, and an aarch64 site with Graviton types', () => {
    expect(issuesOf(ec2Site({ instanceTypes: [{ type: 'm5.xlarge', weight: 4 }] }))).toEqual([]);
    expect(issuesOf(ec2Site({ instanceTypes: [{ type: 'm7g.2xlarge' }] }, { arch: 'aarch64' }))).toEqual([]);
    expect(
      issuesOf(
        ec2Site(
          { instanceTypes: [{ type: 'g5.12xlarge', weight: 4 }] },
          { cores: 4, memoryMB: 16_000, gpus: 1 },
        ),
      ),
    ).toEqual([]);
  });

  it('refuses provisioning on a site that is not of kind cloud', () => {
    expect(issuesOf({ ...ec2Site({}), kind: 'grid' })).toEqual([
      { field: 'provisioning', message: expect.stringContaining('kind cloud') },
    ]);
    const { kind: _kind, ...noKind } = ec2Site({});
    expect(issuesOf(noKind).map((i) => i.field)).toEqual(['provisioning']);
  });

  it('refuses an instance type without enough vCPUs for one slot, saying so', () => {
    expect(
      issuesOf(ec2Site({ instanceTypes: [{ type: 'm5.xlarge' }, { type: 'c5.large' }] }, { cores: 4 })),
    ).toEqual([
      {
        field: 'provisioning.instanceTypes.1.type',
        message: 'c5.large fits no slot: it has 2 vCPUs, a slot needs 4 cores (slot)',
      },
    ]);
  });

  it('refuses an instance type without enough memory for one slot, saying so', () => {
    expect(issuesOf(ec2Site({ instanceTypes: [{ type: 'c5.large' }] }, { memoryMB: 6000 }))).toEqual([
      {
        field: 'provisioning.instanceTypes.0.type',
        message: 'c5.large fits no slot: it has 4096 MiB of memory, a slot needs 6000 MB (slot)',
      },
    ]);
  });

  it('refuses an instance type without the GPUs of a slot, saying so', () => {
    expect(issuesOf(ec2Site({ instanceTypes: [{ type: 'm5.4xlarge' }] }, { gpus: 1 }))).toEqual([
      {
        field: 'provisioning.instanceTypes.0.type',
        message: 'm5.4xlarge fits no slot: it has 0 GPUs, a slot needs 1 (slot)',
      },
    ]);
  });

  it("refuses an instance type of another architecture than the site's slots", () => {
    expect(issuesOf(ec2Site({ instanceTypes: [{ type: 'm6g.xlarge' }] }))).toEqual([
      {
        field: 'provisioning.instanceTypes.0.type',
        message: "m6g.xlarge is aarch64; the site's slots are x86_64 (slot.arch)",
      },
    ]);
    expect(issuesOf(ec2Site({ instanceTypes: [{ type: 'm5.large' }] }, { arch: 'aarch64' }))[0]?.field).toBe(
      'provisioning.instanceTypes.0.type',
    );
  });

  it('refuses a weight larger than the slots that fit', () => {
    expect(issuesOf(ec2Site({ instanceTypes: [{ type: 'm5.xlarge', weight: 5 }] }))).toEqual([
      {
        field: 'provisioning.instanceTypes.0.weight',
        message: 'at most 4: 4 slots of 1 cores, 2000 MB fit on one m5.xlarge (4 vCPUs, 16384 MiB)',
      },
    ]);
  });

  it('refuses an instance type listed twice', () => {
    expect(
      issuesOf(ec2Site({ instanceTypes: [{ type: 'm5.xlarge' }, { type: 'm5.xlarge', weight: 2 }] })),
    ).toEqual([{ field: 'provisioning.instanceTypes.1.type', message: 'm5.xlarge is listed twice' }]);
  });

  it.each([
    [
      'an unknown instance type',
      { instanceTypes: [{ type: 'x9.huge' }] },
      'provisioning.instanceTypes.0.type',
    ],
    ['no instance type', { instanceTypes: [] }, 'provisioning.instanceTypes'],
    [
      'a weight of 0',
      { instanceTypes: [{ type: 'm5.xlarge', weight: 0 }] },
      'provisioning.instanceTypes.0.weight',
    ],
    ['a negative maxInstances', { maxInstances: -1 }, 'provisioning.maxInstances'],
    ['a fractional maxInstances', { maxInstances: 1.5 }, 'provisioning.maxInstances'],
    ['a negative maxHourlyUsd', { maxHourlyUsd: -0.01 }, 'provisioning.maxHourlyUsd'],
    ['no maxInstances', { maxInstances: undefined }, 'provisioning.maxInstances'],
    ['no subnets', { subnets: undefined }, 'provisioning.subnets'],
    ['an empty subnet list', { subnets: [] }, 'provisioning.subnets'],
    ['a malformed subnet', { subnets: [SUBNET, 'vpc-123'] }, 'provisioning.subnets.1'],
    ['an unknown market', { market: 'reserved' }, 'provisioning.market'],
    ['an unknown field', { spotPrice: 1 }, 'provisioning.spotPrice'],
  ])('refuses %s, naming the field', (_what, provisioning, field) => {
    expect(issuesOf(ec2Site(provisioning)).map((i) => i.field)).toEqual([field]);
  });

  it.each([
    ['a negative maxHourlyUsd', { maxHourlyUsd: -1 }, 'provisioning.maxHourlyUsd'],
    ['a negative hourlyUsdPerPilot', { hourlyUsdPerPilot: -1 }, 'provisioning.hourlyUsdPerPilot'],
    ['an array size of 1', { maxArraySize: 1 }, 'provisioning.maxArraySize'],
    ['no job queue', { jobQueue: undefined }, 'provisioning.jobQueue'],
    ['a job queue with spaces', { jobQueue: 'my queue' }, 'provisioning.jobQueue'],
  ])('refuses a batch site with %s, naming the field', (_what, provisioning, field) => {
    const input = {
      kind: 'cloud',
      provisioning: {
        type: 'batch',
        jobQueue: 'gluon-pilots',
        jobDefinition: 'gluon-pilot',
        ...provisioning,
      },
    };
    expect(issuesOf(input).map((i) => i.field)).toEqual([field]);
  });

  it('says which instance type it does not know', () => {
    expect(issuesOf(ec2Site({ instanceTypes: [{ type: 'm5.large' }, { type: 'x9.huge' }] }))).toEqual([
      {
        field: 'provisioning.instanceTypes.1.type',
        message: 'x9.huge is not an instance type Gluon knows (its price table: README, Cloud sites)',
      },
    ]);
  });

  it('refuses an unknown provisioning type, naming it', () => {
    expect(issuesOf({ kind: 'cloud', provisioning: { type: 'gce' } }).map((i) => i.field)).toEqual([
      'provisioning.type',
    ]);
  });
});
