import { describe, expect, it } from 'vitest';
import type { BrokerSite, SiteFacts } from '#core/policies/site-filters.ts';
import { rawWeight, SHARE_TOTAL, weighSites, weightInputs } from '#core/policies/site-weights.ts';
import { emptyCensus, type PilotCensus } from '#core/sites/site.ts';
import { siteOf } from '#test/support/in-memory-ports.ts';

interface SiteCase {
  siteId: string;
  maxPilots: number;
  pilots?: Partial<PilotCensus>;
  queuedJobs?: number;
  finishedPerMin?: number;
}

function facts(c: SiteCase): SiteFacts {
  const site: BrokerSite = siteOf({ siteId: c.siteId, maxPilots: c.maxPilots });
  if (c.pilots !== undefined)
    site.census = { pilots: { ...emptyCensus(), ...c.pilots }, at: '2026-12-01T00:00:00Z' };
  if (c.finishedPerMin !== undefined) site.recent = { finishedPerMin: c.finishedPerMin };
  return { site, ...(c.queuedJobs === undefined ? {} : { queuedJobs: c.queuedJobs }) };
}

describe('weightInputs', () => {
  it.each<[string, SiteCase, object]>([
    [
      'a site never swept: every slot free, nothing queued',
      { siteId: 'a', maxPilots: 50 },
      { maxPilots: 50, busyPilots: 0, freePilots: 50, queuedJobs: 0 },
    ],
    [
      'busy and draining pilots take slots; idle and starting ones are free',
      { siteId: 'a', maxPilots: 50, pilots: { busy: 30, draining: 5, idle: 4, starting: 2 }, queuedJobs: 7 },
      { maxPilots: 50, busyPilots: 35, freePilots: 15, queuedJobs: 7 },
    ],
    [
      'more busy than the cap (the cap was lowered): no slot free',
      { siteId: 'a', maxPilots: 10, pilots: { busy: 12 } },
      { maxPilots: 10, busyPilots: 12, freePilots: 0, queuedJobs: 0 },
    ],
    [
      'recent throughput, when site health records it',
      { siteId: 'a', maxPilots: 10, finishedPerMin: 4.5 },
      { maxPilots: 10, busyPilots: 0, freePilots: 10, queuedJobs: 0, throughputPerMin: 4.5 },
    ],
  ])('%s', (_name, c, inputs) => {
    expect(weightInputs(facts(c))).toEqual(inputs);
  });
});

describe('rawWeight', () => {
  // (maxPilots + free) ÷ (1 + queued ÷ maxPilots) × throughput factor
  it.each([
    ['an idle site of 100', { maxPilots: 100, freePilots: 100, queuedJobs: 0, throughputFactor: 1 }, 200],
    ['a full site of 100', { maxPilots: 100, freePilots: 0, queuedJobs: 0, throughputFactor: 1 }, 100],
    [
      'a full site with one round queued',
      { maxPilots: 100, freePilots: 0, queuedJobs: 100, throughputFactor: 1 },
      50,
    ],
    [
      'a full site with nine rounds queued',
      { maxPilots: 100, freePilots: 0, queuedJobs: 900, throughputFactor: 1 },
      10,
    ],
    [
      'an idle site finishing twice the median',
      { maxPilots: 10, freePilots: 10, queuedJobs: 0, throughputFactor: 2 },
      40,
    ],
  ])('%s weighs %s', (_name, inputs, weight) => {
    expect(rawWeight({ busyPilots: 0, ...inputs })).toBeCloseTo(weight, 9);
  });
});

describe('weighSites', () => {
  it('gives equal sites equal weights and shares', () => {
    const chosen = weighSites([facts({ siteId: 'a', maxPilots: 10 }), facts({ siteId: 'b', maxPilots: 10 })]);
    expect(chosen.map((c) => [c.siteId, c.weight, c.share])).toEqual([
      ['a', 0.5, 500],
      ['b', 0.5, 500],
    ]);
  });

  it.each<[string, SiteCase[], number[]]>([
    [
      'size: a site of 300 against one of 100',
      [
        { siteId: 'big', maxPilots: 300 },
        { siteId: 'small', maxPilots: 100 },
      ],
      [0.75, 0.25],
    ],
    [
      'free slots: an idle site against a full one of the same size',
      [
        { siteId: 'idle', maxPilots: 100 },
        { siteId: 'full', maxPilots: 100, pilots: { busy: 100 } },
      ],
      [0.6667, 0.3333],
    ],
    [
      'queue depth: a site with three rounds queued against an empty one',
      [
        { siteId: 'backlog', maxPilots: 100, pilots: { busy: 100 }, queuedJobs: 300 },
        { siteId: 'empty', maxPilots: 100, pilots: { busy: 100 } },
      ],
      [0.2, 0.8],
    ],
    [
      'throughput: twice the jobs per pilot of the other (the median of two is the lower)',
      [
        { siteId: 'fast', maxPilots: 10, finishedPerMin: 20 },
        { siteId: 'slow', maxPilots: 10, finishedPerMin: 10 },
      ],
      [0.6667, 0.3333],
    ],
    [
      'throughput unknown at one site: it stays neutral',
      [
        { siteId: 'known', maxPilots: 10, finishedPerMin: 10 },
        { siteId: 'unknown', maxPilots: 10 },
      ],
      [0.5, 0.5],
    ],
    [
      'throughput factor held within 0.5..2',
      [
        { siteId: 'a', maxPilots: 10, finishedPerMin: 1 },
        { siteId: 'b', maxPilots: 10, finishedPerMin: 10 },
        { siteId: 'c', maxPilots: 10, finishedPerMin: 1000 },
      ],
      [0.1429, 0.2857, 0.5714],
    ],
  ])('weighs by %s', (_name, cases, weights) => {
    expect(weighSites(cases.map(facts)).map((c) => c.weight)).toEqual(weights);
  });

  it('normalises the weights to add up to 1, and the shares to about SHARE_TOTAL, at least 1 each', () => {
    const sites = [
      facts({ siteId: 'huge', maxPilots: 100_000 }),
      ...Array.from({ length: 9 }, (_, i) => facts({ siteId: `tiny-${i}`, maxPilots: 1, queuedJobs: 50 })),
    ];
    const chosen = weighSites(sites);
    expect(chosen.reduce((a, c) => a + c.weight, 0)).toBeCloseTo(1, 3);
    expect(chosen.every((c) => c.share >= 1)).toBe(true);
    expect(chosen[0]?.share).toBe(SHARE_TOTAL);
    expect(chosen.reduce((a, c) => a + c.share, 0)).toBe(SHARE_TOTAL + 9);
  });

  it('records the inputs of each weight with its throughput factor', () => {
    const [chosen] = weighSites([
      facts({ siteId: 'a', maxPilots: 20, pilots: { busy: 5 }, queuedJobs: 3, finishedPerMin: 6 }),
    ]);
    expect(chosen).toEqual({
      siteId: 'a',
      weight: 1,
      share: SHARE_TOTAL,
      inputs: {
        maxPilots: 20,
        busyPilots: 5,
        freePilots: 15,
        queuedJobs: 3,
        throughputPerMin: 6,
        throughputFactor: 1,
      },
    });
  });
});
