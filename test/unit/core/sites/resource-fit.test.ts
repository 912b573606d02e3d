import { describe, expect, it } from 'vitest';
import { resourceMisfit, resourceShortfall } from '#core/sites/resource-fit.ts';

const needs = { cores: 2, memoryMB: 4000, walltimeSec: 3600, diskMB: 1000 };
const exactly = { cores: 2, memoryMB: 4000, walltimeSec: 3600, diskMB: 1000 };

describe('resourceMisfit', () => {
  it('finds nothing wrong when the offer is exactly enough, or more', () => {
    expect(resourceMisfit(needs, exactly, 'pilot has')).toBeUndefined();
    expect(
      resourceMisfit(needs, { cores: 64, memoryMB: 1e6, walltimeSec: 1e6, diskMB: 1e6 }, 'pilot has'),
    ).toBeUndefined();
  });

  it.each([
    [{ cores: 1 }, 'needs 2 cores, slots have 1'],
    [{ memoryMB: 3999 }, 'needs 4000 MB memory, slots have 3999'],
    [{ walltimeSec: 60 }, 'needs 3600 s walltime, slots have 60 s'],
    [{ diskMB: 10 }, 'needs 1000 MB disk, slots have 10'],
  ])('names what the offer lacks (%o), in the words of who offers', (less, reason) => {
    expect(resourceMisfit(needs, { ...exactly, ...less }, 'slots have')).toBe(reason);
  });

  it('names the first lack only: cores, then memory, walltime and disk', () => {
    expect(resourceMisfit(needs, { cores: 1, memoryMB: 1, walltimeSec: 1, diskMB: 1 }, 'pilot has')).toBe(
      'needs 2 cores, pilot has 1',
    );
    expect(resourceMisfit(needs, { ...exactly, walltimeSec: 1, diskMB: 1 }, 'pilot has')).toMatch(/walltime/);
  });
});

describe('resourceShortfall', () => {
  it.each([
    [{ cores: 1 }, { resource: 'cores', needs: 2, offers: 1 }],
    [{ memoryMB: 3999 }, { resource: 'memoryMB', needs: 4000, offers: 3999 }],
    [{ walltimeSec: 60 }, { resource: 'walltimeSec', needs: 3600, offers: 60 }],
    [{ diskMB: 10 }, { resource: 'diskMB', needs: 1000, offers: 10 }],
    [{}, undefined],
  ])('gives what the offer lacks (%o) as fields', (less, shortfall) => {
    expect(resourceShortfall(needs, { ...exactly, ...less })).toEqual(shortfall);
  });
});
