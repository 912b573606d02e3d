import { describe, expect, it } from 'vitest';
import { assignmentCycle, siteForJob } from '#core/policies/site-assignment.ts';

/** How many of jobs 0..n-1 go to each site. */
function tally(head: { siteIds: string[]; siteShares?: number[] }, n: number): Record<string, number> {
  const counts: Record<string, number> = {};
  for (let j = 0; j < n; j++) {
    const site = siteForJob(head, j) as string;
    counts[site] = (counts[site] ?? 0) + 1;
  }
  return counts;
}

describe('assignmentCycle', () => {
  it.each<[number[], number[]]>([
    [[1], [0]],
    [
      [1, 1],
      [0, 1],
    ],
    [
      [1, 1, 1],
      [0, 1, 2],
    ],
    [
      [2, 1],
      [0, 1, 0],
    ],
    // nginx's example: weights 5, 1, 1 give a a b a c a a, never five a's in a row.
    [
      [5, 1, 1],
      [0, 0, 1, 0, 2, 0, 0],
    ],
    [
      [3, 2],
      [0, 1, 0, 1, 0],
    ],
  ])('spreads shares %j evenly: %j', (shares, cycle) => {
    expect([...assignmentCycle(shares)]).toEqual(cycle);
  });

  it('gives each site exactly its share in one cycle', () => {
    const shares = [617, 250, 100, 30, 3];
    const cycle = assignmentCycle(shares);
    expect(cycle.length).toBe(1000);
    const counts = shares.map((_, i) => cycle.filter((s) => s === i).length);
    expect(counts).toEqual(shares);
  });
});

describe('siteForJob', () => {
  it('is plain round-robin by index with equal shares, or none stored (a task brokered before shares)', () => {
    const sites = ['a', 'b', 'c'];
    const expected = ['a', 'b', 'c', 'a', 'b', 'c', 'a'];
    const indexes = [...expected.keys()];
    expect(indexes.map((j) => siteForJob({ siteIds: sites }, j))).toEqual(expected);
    expect(indexes.map((j) => siteForJob({ siteIds: sites, siteShares: [333, 333, 333] }, j))).toEqual(
      expected,
    );
  });

  it('ignores shares that do not match the sites', () => {
    expect(siteForJob({ siteIds: ['a', 'b'], siteShares: [5] }, 1)).toBe('b');
    expect(siteForJob({ siteIds: ['a', 'b'], siteShares: [5, 0] }, 1)).toBe('b');
  });

  it('has no site for a task with none', () => {
    expect(siteForJob({ siteIds: [] }, 0)).toBeUndefined();
  });

  it.each<[number[], number]>([
    [[750, 250], 10_000],
    [[617, 250, 100, 30, 3], 10_000],
    [[1, 999], 5000],
  ])('sends jobs in proportion to the shares %j (%i jobs)', (shares, n) => {
    const siteIds = shares.map((_, i) => `s${i}`);
    const counts = tally({ siteIds, siteShares: shares }, n);
    const total = shares.reduce((a, b) => a + b, 0);
    shares.forEach((share, i) => {
      // Within one job of the exact proportion, for any number of jobs.
      expect(Math.abs((counts[`s${i}`] ?? 0) - (n * share) / total)).toBeLessThanOrEqual(1);
    });
  });

  it('keeps every window of consecutive jobs close to the proportion, not sites in blocks', () => {
    const head = { siteIds: ['big', 'small'], siteShares: [750, 250] };
    for (const start of [0, 123, 4567]) {
      const window = Array.from({ length: 8 }, (_, k) => siteForJob(head, start + k));
      expect(window.filter((s) => s === 'small').length).toBe(2);
    }
  });

  it('is deterministic: the same job goes to the same site every time it is asked (a replayed page)', () => {
    const head = { siteIds: ['a', 'b', 'c'], siteShares: [500, 300, 200] };
    const first = Array.from({ length: 5000 }, (_, j) => siteForJob(head, j));
    const again = Array.from({ length: 5000 }, (_, j) =>
      siteForJob({ ...head, siteShares: [...head.siteShares] }, j),
    );
    expect(again).toEqual(first);
    // A page replayed from its middle finds the same sites.
    expect(Array.from({ length: 100 }, (_, k) => siteForJob(head, 2500 + k))).toEqual(
      first.slice(2500, 2600),
    );
  });
});
