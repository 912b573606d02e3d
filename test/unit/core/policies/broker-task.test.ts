import { describe, expect, it } from 'vitest';
import { brokerTask, describeNoSite, sitesPassingHardFilters } from '#core/policies/broker-task.ts';
import { MAX_RECORDED_REJECTIONS } from '#core/policies/brokerage-decision.ts';
import type { BrokerSite, SiteFacts } from '#core/policies/site-filters.ts';
import type { SiteInput } from '#core/sites/site.ts';
import { parseTaskSpec, type TaskSpecInput } from '#core/tasks/task-spec.ts';
import { siteOf } from '#test/support/in-memory-ports.ts';

const AT = '2026-12-01T10:00:00.000Z';

function spec(fields: Partial<TaskSpecInput> = {}) {
  return parseTaskSpec({
    name: 'b',
    payload: { command: 'x' },
    events: 10,
    split: { eventsPerJob: 1 },
    ...fields,
  });
}

function site(
  input: SiteInput,
  extra: { queuedJobs?: number; recent?: BrokerSite['recent'] } = {},
): SiteFacts {
  const { recent, queuedJobs } = extra;
  return {
    site: { ...siteOf(input), ...(recent === undefined ? {} : { recent }) },
    ...(queuedJobs === undefined ? {} : { queuedJobs }),
  };
}

const ids = (d: { chosen: Array<{ siteId: string }> }) => d.chosen.map((c) => c.siteId);

describe('brokerTask', () => {
  it('keeps online sites whose slots fit the job, weighs them, and records what it looked at', () => {
    const decision = brokerTask(
      spec(),
      [site({ siteId: 'cern', maxPilots: 30 }), site({ siteId: 'bnl', maxPilots: 10 })],
      AT,
    );
    expect(decision).toEqual({
      at: AT,
      sitesConsidered: 2,
      chosen: [
        {
          siteId: 'bnl',
          weight: 0.25,
          share: 250,
          inputs: { maxPilots: 10, busyPilots: 0, freePilots: 10, queuedJobs: 0, throughputFactor: 1 },
        },
        {
          siteId: 'cern',
          weight: 0.75,
          share: 750,
          inputs: { maxPilots: 30, busyPilots: 0, freePilots: 30, queuedJobs: 0, throughputFactor: 1 },
        },
      ],
      rejected: [],
      waived: [],
    });
  });

  it('records every rejected site with the first filter that rejected it, in site id order', () => {
    const decision = brokerTask(
      spec({ resources: { cores: 4, tags: ['cvmfs'] }, sites: { deny: ['denied'] } }),
      [
        site({ siteId: 'small', slot: { cores: 2 }, tags: ['cvmfs'] }),
        site({ siteId: 'down', status: 'offline' }),
        site({ siteId: 'denied', slot: { cores: 8 }, tags: ['cvmfs'] }),
        site({ siteId: 'plain', slot: { cores: 8 } }),
        site({ siteId: 'closed', slot: { cores: 8 }, tags: ['cvmfs'], maxPilots: 0 }),
        site({ siteId: 'good', slot: { cores: 8 }, tags: ['cvmfs'] }),
      ],
      AT,
    );
    expect(ids(decision)).toEqual(['good']);
    expect(decision.rejected.map((r) => [r.siteId, r.filter, r.reason])).toEqual([
      ['closed', 'capacity', 'allows no pilots (maxPilots 0)'],
      ['denied', 'lists', 'in sites.deny'],
      ['down', 'status', 'site is offline'],
      ['plain', 'features', 'lacks tag cvmfs'],
      ['small', 'resources', 'needs 4 cores, slots have 2'],
    ]);
    expect(decision.rejected.find((r) => r.siteId === 'small')?.details).toEqual({
      resource: 'cores',
      needs: 4,
      offers: 2,
    });
    expect(decision.sitesConsidered).toBe(6);
  });

  it('keeps the siteTest rule: a test task goes only to sites in test, and user tasks never do', () => {
    const sites = [site({ siteId: 'on' }), site({ siteId: 'trial', status: 'test' })];
    expect(ids(brokerTask(spec({ siteTest: true }), sites, AT))).toEqual(['trial']);
    expect(ids(brokerTask(spec(), sites, AT))).toEqual(['on']);
  });

  it('sends the jobs to a site that allows no pilots only when no other site can take them', () => {
    const drained = site({ siteId: 'drained', maxPilots: 0 });
    const withOther = brokerTask(spec(), [drained, site({ siteId: 'open' })], AT);
    expect(ids(withOther)).toEqual(['open']);
    expect(withOther.rejected.map((r) => [r.siteId, r.filter])).toEqual([['drained', 'capacity']]);
    const alone = brokerTask(
      spec({ sites: { allow: ['drained'] } }),
      [drained, site({ siteId: 'open' })],
      AT,
    );
    expect(ids(alone)).toEqual(['drained']);
    expect(alone.waived.map((w) => [w.siteId, w.filter, w.reason])).toEqual([
      ['drained', 'capacity', 'allows no pilots (maxPilots 0)'],
    ]);
    expect(alone.chosen[0]).toMatchObject({ weight: 1, share: 1000 });
  });

  it('rejects a site whose queue is full when another site can take the jobs', () => {
    const decision = brokerTask(
      spec(),
      [
        site({ siteId: 'full', maxQueued: 100 }, { queuedJobs: 100 }),
        site({ siteId: 'room', maxQueued: 100 }, { queuedJobs: 99 }),
      ],
      AT,
    );
    expect(ids(decision)).toEqual(['room']);
    expect(decision.rejected).toEqual([
      {
        siteId: 'full',
        filter: 'queue',
        reason: 'queue full: 100 jobs waiting, maxQueued 100',
        details: { queuedJobs: 100, maxQueued: 100 },
      },
    ]);
    expect(decision.waived).toEqual([]);
  });

  it('waives a soft filter that would leave no site: the sites are kept, and what held against them is recorded', () => {
    const decision = brokerTask(
      spec(),
      [
        site({ siteId: 'a', maxQueued: 10 }, { queuedJobs: 50 }),
        site({ siteId: 'b', maxQueued: 10 }, { queuedJobs: 10 }),
        site({ siteId: 'down', status: 'offline' }),
      ],
      AT,
    );
    expect(ids(decision)).toEqual(['a', 'b']);
    expect(decision.rejected.map((r) => r.siteId)).toEqual(['down']);
    expect(decision.waived.map((w) => [w.siteId, w.filter])).toEqual([
      ['a', 'queue'],
      ['b', 'queue'],
    ]);
  });

  it('applies the soft filters one after the other: a failing site is dropped among those with room', () => {
    const failing = { failureRate: 0.8, attempts: 50 };
    const decision = brokerTask(
      spec(),
      [
        site({ siteId: 'full', maxQueued: 5 }, { queuedJobs: 5 }),
        site({ siteId: 'failing' }, { queuedJobs: 0, recent: failing }),
        site({ siteId: 'healthy' }, { queuedJobs: 0, recent: { failureRate: 0.1, attempts: 50 } }),
      ],
      AT,
    );
    expect(ids(decision)).toEqual(['healthy']);
    expect(decision.rejected.map((r) => [r.siteId, r.filter])).toEqual([
      ['failing', 'failures'],
      ['full', 'queue'],
    ]);
    // Only failing sites left: they are kept.
    const onlyFailing = brokerTask(spec(), [site({ siteId: 'failing' }, { recent: failing })], AT);
    expect(ids(onlyFailing)).toEqual(['failing']);
    expect(onlyFailing.waived.map((w) => w.filter)).toEqual(['failures']);
  });

  it('uses the failure threshold it is given', () => {
    const sites = [
      site({ siteId: 'a' }, { recent: { failureRate: 0.3, attempts: 20 } }),
      site({ siteId: 'b' }),
    ];
    expect(ids(brokerTask(spec(), sites, AT))).toEqual(['a', 'b']);
    expect(ids(brokerTask(spec(), sites, AT, { maxFailureRate: 0.2, minAttempts: 10 }))).toEqual(['b']);
  });

  it('gives the same decision whatever order the sites come in, and does not reorder them', () => {
    const names = ['zeta', 'alpha', 'mid', 'beta'];
    const sites = names.map((siteId, i) => site({ siteId, maxPilots: 10 + i }, { queuedJobs: i }));
    const forward = brokerTask(spec(), sites, AT);
    const backward = brokerTask(spec(), [...sites].reverse(), AT);
    expect(ids(forward)).toEqual(['alpha', 'beta', 'mid', 'zeta']);
    expect(backward).toEqual(forward);
    expect(sites.map((s) => s.site.siteId)).toEqual(names);
  });

  it('keeps the record bounded: rejections beyond MAX_RECORDED_REJECTIONS are counted, not listed', () => {
    const many = Array.from({ length: MAX_RECORDED_REJECTIONS + 7 }, (_, i) =>
      site({ siteId: `s${String(i).padStart(4, '0')}`, status: 'offline' }),
    );
    const decision = brokerTask(spec(), many, AT);
    expect(decision.rejected).toHaveLength(MAX_RECORDED_REJECTIONS);
    expect(decision.rejectedOmitted).toBe(7);
    expect(decision.sitesConsidered).toBe(MAX_RECORDED_REJECTIONS + 7);
    expect(describeNoSite(decision)).toMatch(/ and 7 more$/);
  });
});

describe('sitesPassingHardFilters', () => {
  it('leaves out sites that cannot run the jobs, whatever their queues', () => {
    const sites = [
      site({ siteId: 'down', status: 'offline' }),
      site({ siteId: 'up', maxQueued: 0 }, { queuedJobs: 9 }),
    ];
    expect(sitesPassingHardFilters(spec(), sites).map((f) => f.site.siteId)).toEqual(['up']);
  });
});

describe('describeNoSite', () => {
  it('says no site is defined when there is none', () => {
    expect(describeNoSite(brokerTask(spec(), [], AT))).toBe('no site is defined');
  });

  it('lists every rejected site with its reason', () => {
    const decision = brokerTask(
      spec({ resources: { cores: 2 } }),
      [site({ siteId: 'down', status: 'offline' }), site({ siteId: 'tiny' })],
      AT,
    );
    expect(describeNoSite(decision)).toBe(
      'no site can run the jobs: down (site is offline), tiny (needs 2 cores, slots have 1)',
    );
  });
});
