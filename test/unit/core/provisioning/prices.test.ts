import { describe, expect, it } from 'vitest';
import { roundUsd } from '#core/accounting/usage.ts';
import {
  batchPilotPrice,
  fargateHourlyUsd,
  hourlyPrice,
  INSTANCE_TYPES,
  instanceTypeInfo,
  PRICE_TABLE_DATE,
  slotsPerInstance,
} from '#core/provisioning/prices.ts';

function info(type: string) {
  const found = instanceTypeInfo(type);
  if (found === undefined) throw new Error(`${type} is not in the table`);
  return found;
}

describe('INSTANCE_TYPES', () => {
  it('knows the common families from large to 4xlarge', () => {
    const families = ['m5', 'm6i', 'm7i', 'm6a', 'm7a', 'm6g', 'm7g', 'c5', 'c6i', 'c7i', 'c6g', 'c7g'];
    for (const family of [...families, 'r5', 'r6i', 'r7i', 'r6g']) {
      for (const size of ['large', 'xlarge', '2xlarge', '4xlarge']) {
        expect(instanceTypeInfo(`${family}.${size}`), `${family}.${size}`).toBeDefined();
      }
    }
    for (const type of ['t3.large', 't3a.xlarge', 'g4dn.xlarge', 'g5.4xlarge', 'p3.2xlarge']) {
      expect(instanceTypeInfo(type), type).toBeDefined();
    }
    expect(Object.keys(INSTANCE_TYPES).length).toBeGreaterThanOrEqual(40);
  });

  it('gives Graviton types aarch64 and the others x86_64', () => {
    for (const [type, entry] of Object.entries(INSTANCE_TYPES)) {
      const graviton = /^[a-z]+\d+g[a-z]*\./.test(type) && !type.startsWith('g');
      expect(entry.arch, type).toBe(graviton ? 'aarch64' : 'x86_64');
    }
    expect(info('m7g.large').arch).toBe('aarch64');
    expect(info('c6i.large').arch).toBe('x86_64');
  });

  it('gives GPU types their GPUs and no other type any', () => {
    expect(info('g4dn.xlarge').gpus).toBe(1);
    expect(info('g5.12xlarge').gpus).toBe(4);
    expect(info('p3.16xlarge').gpus).toBe(8);
    for (const [type, entry] of Object.entries(INSTANCE_TYPES)) {
      if (!/^(g4dn|g5|p3)\./.test(type)) expect(entry.gpus, type).toBeUndefined();
    }
  });

  it('prices Spot below On-Demand, and a size twice the one below it', () => {
    for (const [type, entry] of Object.entries(INSTANCE_TYPES)) {
      expect(entry.spotUsd, type).toBeGreaterThan(0);
      expect(entry.spotUsd, type).toBeLessThan(entry.onDemandUsd);
    }
    expect(info('m6i.xlarge').onDemandUsd).toBeCloseTo(2 * info('m6i.large').onDemandUsd, 6);
    expect(info('c7g.4xlarge').onDemandUsd).toBeCloseTo(8 * info('c7g.large').onDemandUsd, 6);
  });

  it('does not take inherited keys for instance types', () => {
    expect(instanceTypeInfo('toString')).toBeUndefined();
    expect(instanceTypeInfo('__proto__')).toBeUndefined();
  });
});

describe('hourlyPrice', () => {
  it('prices On-Demand and Spot from the dated table', () => {
    expect(hourlyPrice('m5.large', 'on-demand')).toEqual({
      hourlyUsd: 0.096,
      source: 'table',
      asOf: PRICE_TABLE_DATE,
    });
    expect(hourlyPrice('m5.large', 'spot')).toEqual({
      hourlyUsd: 0.037,
      source: 'table',
      asOf: PRICE_TABLE_DATE,
    });
  });

  it('prefers a Spot price read from the history, for Spot only', () => {
    const read = { usd: 0.0412, at: '2026-12-02T14:00:00.000Z' };
    expect(hourlyPrice('m5.large', 'spot', read)).toEqual({
      hourlyUsd: 0.0412,
      source: 'spot-history',
      asOf: read.at,
    });
    expect(hourlyPrice('m5.large', 'on-demand', read)?.source).toBe('table');
  });

  it('has no price for a type the table does not know, unless Spot history gave one', () => {
    expect(hourlyPrice('x9.huge', 'on-demand')).toBeUndefined();
    expect(hourlyPrice('x9.huge', 'spot')).toBeUndefined();
    expect(hourlyPrice('x9.huge', 'spot', { usd: 1, at: '2026-12-02T14:00:00.000Z' })?.hourlyUsd).toBe(1);
  });
});

describe('slotsPerInstance', () => {
  it('fits as many slots as cores and memory both allow', () => {
    expect(slotsPerInstance(info('m5.2xlarge'), { cores: 1, memoryMB: 2000 })).toBe(8);
    expect(slotsPerInstance(info('m5.2xlarge'), { cores: 1, memoryMB: 8000 })).toBe(4);
    expect(slotsPerInstance(info('c5.xlarge'), { cores: 1, memoryMB: 2000 })).toBe(4);
    expect(slotsPerInstance(info('c5.xlarge'), { cores: 1, memoryMB: 4000 })).toBe(2);
    expect(slotsPerInstance(info('r5.4xlarge'), { cores: 8, memoryMB: 16_000 })).toBe(2);
  });

  it('fits none when one slot needs more than the instance has', () => {
    expect(slotsPerInstance(info('m5.large'), { cores: 4, memoryMB: 2000 })).toBe(0);
    expect(slotsPerInstance(info('c5.large'), { cores: 1, memoryMB: 8000 })).toBe(0);
  });

  it('counts GPUs when the slot has some, and ignores them when not', () => {
    expect(slotsPerInstance(info('g5.12xlarge'), { cores: 4, memoryMB: 16_000, gpus: 1 })).toBe(4);
    expect(slotsPerInstance(info('g5.12xlarge'), { cores: 4, memoryMB: 16_000, gpus: 2 })).toBe(2);
    expect(slotsPerInstance(info('m5.4xlarge'), { cores: 1, memoryMB: 2000, gpus: 1 })).toBe(0);
    expect(slotsPerInstance(info('g4dn.xlarge'), { cores: 1, memoryMB: 2000, gpus: 0 })).toBe(4);
  });
});

describe('fargateHourlyUsd', () => {
  it('prices a slot by vCPU and whole GB, x86_64 unless aarch64', () => {
    expect(fargateHourlyUsd({ cores: 1, memoryMB: 2048 })).toBe(roundUsd(0.04048 + 2 * 0.004445));
    // 2000 MB is billed as 2 GB (Fargate's memory comes in whole GB).
    expect(fargateHourlyUsd({ cores: 1, memoryMB: 2000 })).toBe(roundUsd(0.04048 + 2 * 0.004445));
    expect(fargateHourlyUsd({ cores: 4, memoryMB: 8192, arch: 'aarch64' })).toBe(
      roundUsd(4 * 0.03238 + 8 * 0.00356),
    );
  });
});

describe('batchPilotPrice', () => {
  const slot = { cores: 2, memoryMB: 4096 };
  it("takes the site's price per pilot when it gives one", () => {
    expect(batchPilotPrice({ hourlyUsdPerPilot: 0.05 }, slot, '2026-12-02T14:00:00.000Z')).toEqual({
      hourlyUsd: 0.05,
      source: 'site',
      asOf: '2026-12-02T14:00:00.000Z',
    });
  });

  it("takes Fargate's dated price for one slot when the site gives none", () => {
    expect(batchPilotPrice({}, slot, '2026-12-02T14:00:00.000Z')).toEqual({
      hourlyUsd: fargateHourlyUsd(slot),
      source: 'table',
      asOf: PRICE_TABLE_DATE,
    });
  });
});
