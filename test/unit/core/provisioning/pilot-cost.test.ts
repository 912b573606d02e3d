import { describe, expect, it } from 'vitest';
import type { CloudNode } from '#core/pilots/pilot.ts';
import { pilotCost } from '#core/provisioning/pilot-cost.ts';
import { fargateHourlyUsd, PRICE_TABLE_DATE } from '#core/provisioning/prices.ts';
import type { ProvisioningDecision } from '#core/provisioning/provisioning-decision.ts';
import { type SiteRecord, SiteSchema } from '#core/sites/site.ts';

const AT = '2026-12-02T14:30:00.000Z';
const SUBNET = 'subnet-0123abcd';

const ec2Site: SiteRecord = SiteSchema.parse({
  siteId: 'aws',
  kind: 'cloud',
  slot: { cores: 2, memoryMB: 4000 },
  provisioning: {
    type: 'ec2',
    instanceTypes: [{ type: 'm5.2xlarge' }],
    subnets: [SUBNET],
    maxInstances: 4,
    maxHourlyUsd: 2,
  },
});

const batchSite: SiteRecord = SiteSchema.parse({
  siteId: 'aws-batch',
  kind: 'cloud',
  slot: { cores: 1, memoryMB: 2048 },
  provisioning: { type: 'batch', jobQueue: 'gluon-pilots', jobDefinition: 'gluon-pilot' },
});

function onEc2(market: 'spot' | 'on-demand', pilotsOnInstance = 1, instanceType = 'm5.2xlarge'): CloudNode {
  return { provider: 'ec2', instanceId: 'i-0abc', instanceType, market, pilotsOnInstance };
}

function decided(prices: ProvisioningDecision['prices']): ProvisioningDecision {
  return {
    siteId: 'aws',
    at: '2026-12-02T14:29:00.000Z',
    type: 'ec2',
    queuedJobs: 0,
    pilotsWanted: 0,
    pending: 0,
    running: 0,
    slots: 0,
    hourlyUsd: 0,
    requested: [],
    started: 0,
    limitedBy: 'no-demand',
    prices,
    errors: [],
    summary: 'nothing wanted',
  };
}

describe('pilotCost', () => {
  it("prices an EC2 pilot at its part of its instance's table price", () => {
    expect(pilotCost(ec2Site, onEc2('on-demand', 4), AT)).toEqual({
      hourlyUsd: 0.096,
      instanceHourlyUsd: 0.384,
      source: 'table',
      asOf: PRICE_TABLE_DATE,
    });
    expect(pilotCost(ec2Site, onEc2('spot', 1), AT)).toMatchObject({ hourlyUsd: 0.1478, source: 'table' });
  });

  it('prices a Spot pilot at the Spot price the provisioner last read from the history', () => {
    const site = {
      ...ec2Site,
      provisioned: decided({
        'm5.2xlarge/spot': { hourlyUsd: 0.16, source: 'spot-history', asOf: '2026-12-02T14:29:00.000Z' },
        'm5.2xlarge/on-demand': { hourlyUsd: 0.5, source: 'spot-history', asOf: '2026-12-02T14:29:00.000Z' },
      }),
    };
    expect(pilotCost(site, onEc2('spot', 2), AT)).toEqual({
      hourlyUsd: 0.08,
      instanceHourlyUsd: 0.16,
      source: 'spot-history',
      asOf: '2026-12-02T14:29:00.000Z',
    });
    // On-Demand comes from the table whatever the decision holds.
    expect(pilotCost(site, onEc2('on-demand'), AT)?.instanceHourlyUsd).toBe(0.384);
  });

  it('uses a table price the decision recorded only as the table would give it', () => {
    const site = {
      ...ec2Site,
      provisioned: decided({ 'm5.2xlarge/spot': { hourlyUsd: 9, source: 'table', asOf: PRICE_TABLE_DATE } }),
    };
    expect(pilotCost(site, onEc2('spot'), AT)?.instanceHourlyUsd).toBe(0.1478);
  });

  it("prices an AWS Batch pilot at the site's price per pilot, else Fargate's for one slot", () => {
    expect(
      pilotCost(batchSite, { provider: 'batch', batchJobId: 'job-1:0', pilotsOnInstance: 1 }, AT),
    ).toEqual({
      hourlyUsd: fargateHourlyUsd({ cores: 1, memoryMB: 2048 }),
      instanceHourlyUsd: fargateHourlyUsd({ cores: 1, memoryMB: 2048 }),
      source: 'table',
      asOf: PRICE_TABLE_DATE,
    });
    const priced: SiteRecord = SiteSchema.parse({
      ...batchSite,
      provisioning: { ...batchSite.provisioning, hourlyUsdPerPilot: 0.02 },
    });
    expect(pilotCost(priced, { provider: 'batch', pilotsOnInstance: 1 }, AT)).toEqual({
      hourlyUsd: 0.02,
      instanceHourlyUsd: 0.02,
      source: 'site',
      asOf: AT,
    });
  });

  it('prices nothing on a site without provisioning, or for a pilot that sent no cloud node', () => {
    const grid = SiteSchema.parse({ siteId: 'cern', kind: 'grid' });
    expect(pilotCost(grid, onEc2('spot'), AT)).toBeUndefined();
    expect(pilotCost(ec2Site, undefined, AT)).toBeUndefined();
  });

  it('prices nothing for an EC2 pilot without instance type or market, or of a type the table does not know', () => {
    expect(pilotCost(ec2Site, { provider: 'ec2', market: 'spot', pilotsOnInstance: 1 }, AT)).toBeUndefined();
    expect(
      pilotCost(ec2Site, { provider: 'ec2', instanceType: 'm5.large', pilotsOnInstance: 1 }, AT),
    ).toBeUndefined();
    expect(pilotCost(ec2Site, onEc2('on-demand', 1, 'x9.huge'), AT)).toBeUndefined();
  });
});
