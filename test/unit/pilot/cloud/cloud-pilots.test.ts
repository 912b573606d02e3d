import { describe, expect, it } from 'vitest';
import { INSTANCE_TYPES } from '#core/provisioning/prices.ts';
import { CLOUD_TAGS } from '#core/provisioning/tags.ts';
import { instanceSize, pilotArgs } from '#pilot/cloud/cloud-command.ts';
import { CloudPlanError, planCloudPilots, slotsPerInstance } from '#pilot/cloud/cloud-pilots.ts';

const tags = (entries: Record<string, string>) => new Map(Object.entries(entries));
const XLARGE = { vcpus: 4, memoryMiB: 16_384 };

describe('slotsPerInstance', () => {
  it('is what fits both the vCPUs and the memory', () => {
    expect(slotsPerInstance(XLARGE, { cores: 1, memoryMB: 2000 })).toBe(4);
    expect(slotsPerInstance(XLARGE, { cores: 1, memoryMB: 6000 })).toBe(2);
    expect(slotsPerInstance(XLARGE, { cores: 3, memoryMB: 2000 })).toBe(1);
    expect(slotsPerInstance(XLARGE, { cores: 8, memoryMB: 2000 })).toBe(0);
  });
});

describe('planCloudPilots', () => {
  it('slot mode: one pilot per slot that fits, each with the slot’s cores and memory', () => {
    const plan = planCloudPilots(
      tags({
        [CLOUD_TAGS.site]: 'aws-spot',
        [CLOUD_TAGS.pilots]: 'slot',
        [CLOUD_TAGS.slotCores]: '2',
        [CLOUD_TAGS.slotMemoryMB]: '4000',
        [CLOUD_TAGS.idleExitSec]: '120',
      }),
      XLARGE,
    );
    expect(plan).toEqual({
      siteId: 'aws-spot',
      mode: 'slot',
      pilots: 2,
      cores: 2,
      memoryMB: 4000,
      idleExitSec: 120,
    });
  });

  it('slot mode without slot tags: single-core slots with an even share of the memory', () => {
    expect(planCloudPilots(tags({ [CLOUD_TAGS.site]: 's' }), XLARGE)).toEqual({
      siteId: 's',
      mode: 'slot',
      pilots: 4,
      cores: 1,
      memoryMB: 4096,
    });
  });

  it('instance mode: one pilot offering the whole instance', () => {
    const plan = planCloudPilots(
      tags({ [CLOUD_TAGS.site]: 's', [CLOUD_TAGS.pilots]: 'instance', [CLOUD_TAGS.slotCores]: '1' }),
      XLARGE,
    );
    expect(plan).toEqual({ siteId: 's', mode: 'instance', pilots: 1, cores: 4, memoryMB: 16_384 });
  });

  it('refuses, naming the tag: no site, an unknown mode, a bad number, a slot larger than the instance', () => {
    expect(() => planCloudPilots(tags({}), XLARGE)).toThrow(/gluon:site is missing/);
    expect(() =>
      planCloudPilots(tags({ [CLOUD_TAGS.site]: 's', [CLOUD_TAGS.pilots]: 'node' }), XLARGE),
    ).toThrow(/gluon:pilots must be slot or instance/);
    expect(() =>
      planCloudPilots(tags({ [CLOUD_TAGS.site]: 's', [CLOUD_TAGS.slotCores]: '0' }), XLARGE),
    ).toThrow(/gluon:slot-cores must be a whole number/);
    expect(() =>
      planCloudPilots(tags({ [CLOUD_TAGS.site]: 's', [CLOUD_TAGS.slotMemoryMB]: '99999' }), XLARGE),
    ).toThrow(CloudPlanError);
  });
});

describe('the instance’s size and the pilots’ command lines', () => {
  it('takes the size of a known type from the dated table, else from this machine', () => {
    const known = Object.keys(INSTANCE_TYPES)[0] as string;
    expect(instanceSize(known)).toMatchObject({ vcpus: INSTANCE_TYPES[known]?.vcpus, from: 'table' });
    const unknown = instanceSize('x9.unknown');
    expect(unknown.from).toBe('machine');
    expect(unknown.vcpus).toBeGreaterThan(0);
  });

  it('runs each pilot with --cloud ec2 and the plan’s site, slot and count', () => {
    const args = pilotArgs(
      { siteId: 's', mode: 'slot', pilots: 2, cores: 2, memoryMB: 4000, idleExitSec: 60 },
      { imdsEndpoint: 'http://127.0.0.1:1', apiUrl: 'http://api' },
    );
    expect(args).toEqual([
      'run',
      '--cloud',
      'ec2',
      '--site',
      's',
      '--cores',
      '2',
      '--memory-mb',
      '4000',
      '--idle-exit-sec',
      '60',
      '--pilots-on-instance',
      '2',
      '--imds-endpoint',
      'http://127.0.0.1:1',
      '--api-url',
      'http://api',
    ]);
  });
});

describe('explicit weights (gluon:weights)', () => {
  const tags = (weights?: string) =>
    new Map([
      ['gluon:site', 'cloud-a'],
      ['gluon:slot-cores', '1'],
      ['gluon:slot-memory-mb', '2000'],
      ...(weights === undefined ? [] : [['gluon:weights', weights] as [string, string]]),
    ]);
  const size = { vcpus: 4, memoryMiB: 16_384 };

  it('starts as many pilots as the weight the site set for the instance type', () => {
    expect(planCloudPilots(tags('m5.large=1 m5.xlarge=2'), size, 'm5.xlarge').pilots).toBe(2);
  });

  it('starts what fits when the type has no weight of its own', () => {
    expect(planCloudPilots(tags('m5.large=1'), size, 'm5.xlarge').pilots).toBe(4);
    expect(planCloudPilots(tags(), size, 'm5.xlarge').pilots).toBe(4);
  });

  it('never starts more than fits, whatever the tag says', () => {
    expect(planCloudPilots(tags('m5.xlarge=9'), size, 'm5.xlarge').pilots).toBe(4);
  });
});
