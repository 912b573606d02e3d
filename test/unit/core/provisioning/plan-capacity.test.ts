import { describe, expect, it } from 'vitest';
import {
  BatchProvisioningSchema,
  type Ec2Provisioning,
  Ec2ProvisioningSchema,
} from '#core/provisioning/cloud-site.ts';
import {
  type Ec2PlanInput,
  marketsOf,
  type PriceBook,
  planBatch,
  planFleet,
  priceKey,
  worstHourlyUsd,
} from '#core/provisioning/plan-capacity.ts';
import type { CloudInstance } from '#core/provisioning/ports.ts';
import { SiteSchema } from '#core/sites/site.ts';

const SLOT = SiteSchema.parse({ siteId: 'cloud-a' }).slot; // 1 core, 2000 MB

/** Round prices so the arithmetic is easy to follow: per slot, large 0.05 spot / 0.10 on-demand. */
const PRICES: PriceBook = {
  [priceKey('m5.large', 'spot')]: { hourlyUsd: 0.1, source: 'table', asOf: '2026-11-01' },
  [priceKey('m5.large', 'on-demand')]: { hourlyUsd: 0.2, source: 'table', asOf: '2026-11-01' },
  [priceKey('m5.xlarge', 'spot')]: { hourlyUsd: 0.16, source: 'spot-history', asOf: '2026-12-02T14:00:00Z' },
  [priceKey('m5.xlarge', 'on-demand')]: { hourlyUsd: 0.4, source: 'table', asOf: '2026-11-01' },
};

function provisioning(overrides: Partial<Ec2Provisioning> = {}): Ec2Provisioning {
  return Ec2ProvisioningSchema.parse({
    type: 'ec2',
    instanceTypes: [
      { type: 'm5.large', weight: 2 },
      { type: 'm5.xlarge', weight: 4 },
    ],
    subnets: ['subnet-0123456789abcdef0'],
    maxInstances: 10,
    maxHourlyUsd: 100,
    ...overrides,
  });
}

function input(overrides: Partial<Ec2PlanInput> = {}): Ec2PlanInput {
  return {
    site: { maxPilots: 100, slot: SLOT },
    provisioning: provisioning(),
    pilotsWanted: 0,
    livePilots: 0,
    instances: [],
    prices: PRICES,
    ...overrides,
  };
}

function instance(
  instanceType: string,
  market: CloudInstance['market'],
  state: CloudInstance['state'],
  n = 1,
): CloudInstance {
  return {
    instanceId: `i-${instanceType}-${market}-${state}-${n}`,
    instanceType,
    market,
    state,
    launchedAt: '2026-12-02T14:00:00Z',
  };
}

describe('planFleet', () => {
  it('asks for nothing when nothing is wanted (no-demand)', () => {
    const plan = planFleet(input(), 'spot');
    expect(plan).toMatchObject({ targetUnits: 0, slotsWanted: 0, limitedBy: 'no-demand', worstHourlyUsd: 0 });
  });

  it('asks for the slots wanted, types cheapest per slot first, with the worst-mix price', () => {
    const plan = planFleet(input({ pilotsWanted: 6 }), 'spot');
    expect(plan.targetUnits).toBe(6);
    expect(plan.limitedBy).toBe('none');
    // xlarge: 0.04 per slot, large: 0.05 per slot.
    expect(plan.types.map((t) => t.instanceType)).toEqual(['m5.xlarge', 'm5.large']);
    // At most 3 instances (6 units / smallest weight 2); at worst 5 units at 0.05 + the priciest (0.16).
    expect(plan.maxNewInstances).toBe(3);
    expect(plan.worstHourlyUsd).toBeCloseTo(5 * 0.05 + 0.16, 9);
  });

  it('counts booting instances as pending pilots and running ones not registered yet: nothing asked twice', () => {
    const booting = [instance('m5.large', 'spot', 'pending', 1), instance('m5.xlarge', 'spot', 'pending', 2)];
    expect(planFleet(input({ pilotsWanted: 6, instances: booting }), 'spot')).toMatchObject({
      targetUnits: 0,
      limitedBy: 'no-demand',
    });
    const running = [instance('m5.xlarge', 'spot', 'running')];
    // 4 running slots, 1 pilot registered: 3 on their way; 6 wanted → 3 more.
    const plan = planFleet(input({ pilotsWanted: 6, livePilots: 1, instances: running }), 'spot');
    expect(plan.targetUnits).toBe(3);
    expect(plan.capacity).toMatchObject({ pending: 0, running: 1, slots: 4, hourlyUsd: 0.16 });
  });

  it('never asks for more instances than maxInstances minus those the site has', () => {
    const instances = [
      instance('m5.large', 'on-demand', 'running', 1),
      instance('m5.large', 'on-demand', 'running', 2),
    ];
    const plan = planFleet(
      input({ provisioning: provisioning({ maxInstances: 3 }), pilotsWanted: 20, livePilots: 4, instances }),
      'spot',
    );
    // One more instance; whichever type EC2 picks, a target of 2 (the smallest weight) is one instance.
    expect(plan).toMatchObject({ targetUnits: 2, maxNewInstances: 1, limitedBy: 'maxInstances' });
    const full = planFleet(
      input({ provisioning: provisioning({ maxInstances: 2 }), pilotsWanted: 20, livePilots: 4, instances }),
      'spot',
    );
    expect(full).toMatchObject({ targetUnits: 0, limitedBy: 'maxInstances' });
  });

  it('never lets the hourly spend go above maxHourlyUsd, whatever mix EC2 picks', () => {
    // Running: one on-demand large (0.2/h). Cap 0.6: 0.4 left; worst of U units = 0.05 (U − 1) + 0.16.
    const instances = [instance('m5.large', 'on-demand', 'running')];
    const plan = planFleet(
      input({
        provisioning: provisioning({ maxHourlyUsd: 0.6 }),
        pilotsWanted: 50,
        livePilots: 2,
        instances,
      }),
      'spot',
    );
    expect(plan.targetUnits).toBe(5); // 0.05 × 4 + 0.16 = 0.36 ≤ 0.4; 6 units would be 0.41
    expect(plan.limitedBy).toBe('maxHourlyUsd');
    expect(plan.capacity.hourlyUsd + plan.worstHourlyUsd).toBeLessThanOrEqual(0.6);
    // Not even the priciest instance fits: nothing.
    const none = planFleet(
      input({
        provisioning: provisioning({ maxHourlyUsd: 0.3 }),
        pilotsWanted: 50,
        livePilots: 2,
        instances,
      }),
      'spot',
    );
    expect(none).toMatchObject({ targetUnits: 0, limitedBy: 'maxHourlyUsd' });
  });

  it('weights: left out, the slots that fit the type; pilots per instance still count its slots for demand', () => {
    const p = provisioning({ instanceTypes: [{ type: 'm5.xlarge' }], pilots: 'instance' });
    // m5.xlarge: 4 vCPUs, 16 GiB → 4 slots of 1 core and 2000 MB.
    const plan = planFleet(input({ provisioning: p, pilotsWanted: 8 }), 'on-demand');
    expect(plan.types).toEqual([{ instanceType: 'm5.xlarge', weight: 4, hourlyUsd: 0.4 }]);
    expect(plan).toMatchObject({ targetUnits: 8, maxNewInstances: 2 });
    // One multi-job pilot registered on a running instance stands for its 4 slots.
    const running = [instance('m5.xlarge', 'on-demand', 'running')];
    expect(
      planFleet(input({ provisioning: p, pilotsWanted: 8, livePilots: 1, instances: running }), 'on-demand')
        .targetUnits,
    ).toBe(8);
    expect(
      planFleet(input({ provisioning: p, pilotsWanted: 8, livePilots: 0, instances: running }), 'on-demand')
        .targetUnits,
    ).toBe(4);
  });

  it('spot-first: Spot first, then On-Demand for what Spot could not give in the same cycle', () => {
    const p = provisioning({ market: 'spot-first' });
    expect(marketsOf(p)).toEqual(['spot', 'on-demand']);
    expect(marketsOf({ market: 'spot' })).toEqual(['spot']);
    expect(marketsOf({ market: 'on-demand' })).toEqual(['on-demand']);
    const spot = planFleet(input({ provisioning: p, pilotsWanted: 8 }), 'spot');
    expect(spot.targetUnits).toBe(8);
    // Spot gave one m5.xlarge (4 slots) of the 8: On-Demand is asked for the other 4, at its prices.
    const gave = [instance('m5.xlarge', 'spot', 'pending')];
    const onDemand = planFleet(input({ provisioning: p, pilotsWanted: 8, instances: gave }), 'on-demand');
    expect(onDemand.targetUnits).toBe(4);
    expect(onDemand.types.map((t) => t.hourlyUsd)).toEqual([0.2, 0.4]);
    // Spot gave everything: nothing more.
    const all = [instance('m5.xlarge', 'spot', 'pending', 1), instance('m5.xlarge', 'spot', 'pending', 2)];
    expect(
      planFleet(input({ provisioning: p, pilotsWanted: 8, instances: all }), 'on-demand').targetUnits,
    ).toBe(0);
  });

  it('the site maxPilots caps the slots asked (maxPilots)', () => {
    const plan = planFleet(input({ site: { maxPilots: 3, slot: SLOT }, pilotsWanted: 6 }), 'spot');
    expect(plan).toMatchObject({ targetUnits: 3, limitedBy: 'maxPilots' });
  });

  it('an offline site wants nothing (the demand rule gives 0 pilots): nothing asked', () => {
    // siteDemand gives 0 pilots wanted for an offline site; the plan then asks for nothing.
    expect(planFleet(input({ pilotsWanted: 0 }), 'spot').targetUnits).toBe(0);
  });

  it('the worst mix: (units − 1) at the priciest per slot, plus the priciest instance', () => {
    const types = [
      { instanceType: 'a', weight: 1, hourlyUsd: 0.1 },
      { instanceType: 'b', weight: 4, hourlyUsd: 0.2 },
    ];
    expect(worstHourlyUsd(types, 0)).toBe(0);
    expect(worstHourlyUsd(types, 1)).toBeCloseTo(0.2, 9); // one b (overshooting) costs more than one a
    expect(worstHourlyUsd(types, 3)).toBeCloseTo(2 * 0.1 + 0.2, 9);
  });
});

describe('planBatch', () => {
  const batch = BatchProvisioningSchema.parse({
    type: 'batch',
    jobQueue: 'gluon-pilots',
    jobDefinition: 'gluon-pilot',
    maxArraySize: 4,
    maxHourlyUsd: 1,
  });
  const base = {
    site: { maxPilots: 20 },
    provisioning: batch,
    livePilots: 0,
    pending: 0,
    running: 0,
    hourlyUsdPerPilot: 0.1,
  };

  it('submits the pilots wanted in arrays of at most maxArraySize', () => {
    expect(planBatch({ ...base, pilotsWanted: 9 })).toMatchObject({
      pilots: 9,
      arrays: [4, 4, 1],
      limitedBy: 'none',
    });
  });

  it('asks nothing when nothing is wanted or the jobs already queued cover it', () => {
    expect(planBatch({ ...base, pilotsWanted: 0 })).toMatchObject({
      pilots: 0,
      arrays: [],
      limitedBy: 'no-demand',
    });
    expect(planBatch({ ...base, pilotsWanted: 3, pending: 3 })).toMatchObject({
      pilots: 0,
      limitedBy: 'no-demand',
    });
  });

  it('stays within site.maxPilots and maxHourlyUsd', () => {
    expect(
      planBatch({ ...base, site: { maxPilots: 5 }, pilotsWanted: 9, running: 2, livePilots: 2 }),
    ).toMatchObject({
      pilots: 3,
      limitedBy: 'maxPilots',
    });
    // 6 running at 0.1/h = 0.6; cap 1: 4 more.
    expect(planBatch({ ...base, pilotsWanted: 9, running: 6, livePilots: 6 })).toMatchObject({
      pilots: 4,
      arrays: [4],
      hourlyUsd: 0.6,
      limitedBy: 'maxHourlyUsd',
    });
  });
});
