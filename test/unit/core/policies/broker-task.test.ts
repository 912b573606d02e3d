import { describe, expect, it } from 'vitest';
import { brokerTask, describeNoSite } from '#core/policies/broker-task.ts';
import { parseTaskSpec, type TaskSpecInput } from '#core/tasks/task-spec.ts';
import { siteOf } from '#test/support/in-memory-ports.ts';

function spec(fields: Partial<TaskSpecInput> = {}) {
  return parseTaskSpec({
    name: 'b',
    payload: { command: 'x' },
    events: 10,
    split: { eventsPerJob: 1 },
    ...fields,
  });
}

const big = { cores: 8, memoryMB: 32_000, walltimeSec: 172_800, diskMB: 100_000 };

describe('brokerTask', () => {
  it('keeps online sites whose slots fit the job', () => {
    const result = brokerTask(spec(), [siteOf({ siteId: 'cern' }), siteOf({ siteId: 'bnl' })]);
    expect(result).toEqual({ siteIds: ['bnl', 'cern'], rejected: [] });
  });

  it('rejects an offline site with the reason', () => {
    const result = brokerTask(spec(), [
      siteOf({ siteId: 'cern', status: 'offline' }),
      siteOf({ siteId: 'bnl' }),
    ]);
    expect(result.siteIds).toEqual(['bnl']);
    expect(result.rejected).toEqual([{ siteId: 'cern', reason: 'site is offline' }]);
  });

  it('rejects a site in test status', () => {
    expect(brokerTask(spec(), [siteOf({ siteId: 'new', status: 'test' })]).rejected).toEqual([
      { siteId: 'new', reason: 'site is test' },
    ]);
  });

  it('keeps only the sites of sites.allow', () => {
    const sites = ['a', 'b', 'c'].map((siteId) => siteOf({ siteId }));
    const result = brokerTask(spec({ sites: { allow: ['b'] } }), sites);
    expect(result.siteIds).toEqual(['b']);
    expect(result.rejected).toEqual([
      { siteId: 'a', reason: 'not in sites.allow' },
      { siteId: 'c', reason: 'not in sites.allow' },
    ]);
  });

  it('drops the sites of sites.deny', () => {
    const sites = ['a', 'b', 'c'].map((siteId) => siteOf({ siteId }));
    const result = brokerTask(spec({ sites: { deny: ['a', 'c'] } }), sites);
    expect(result.siteIds).toEqual(['b']);
    expect(result.rejected.map((r) => r.reason)).toEqual(['in sites.deny', 'in sites.deny']);
  });

  it.each([
    ['cores', { cores: 8 }, 'needs 8 cores, slots have 4'],
    ['memory', { memoryMB: 32_000 }, 'needs 32000 MB memory, slots have 16000'],
    ['walltime', { walltimeSec: 172_800 }, 'needs 172800 s walltime, slots have 86400 s'],
    ['disk', { diskMB: 100_000 }, 'needs 100000 MB disk, slots have 50000'],
  ] as const)('rejects a site whose slots have too little %s', (_what, resources, reason) => {
    const site = siteOf({
      siteId: 'small',
      slot: { cores: 4, memoryMB: 16_000, walltimeSec: 86_400, diskMB: 50_000 },
    });
    expect(brokerTask(spec({ resources }), [site])).toEqual({
      siteIds: [],
      rejected: [{ siteId: 'small', reason }],
    });
  });

  it('keeps a site whose slots are exactly the size of the job', () => {
    const site = siteOf({ siteId: 'exact', slot: big });
    expect(brokerTask(spec({ resources: big }), [site]).siteIds).toEqual(['exact']);
  });

  it('returns sites in the same order whatever order they come in', () => {
    const ids = ['zeta', 'alpha', 'mid', 'beta'];
    const forward = brokerTask(
      spec(),
      ids.map((siteId) => siteOf({ siteId })),
    );
    const backward = brokerTask(
      spec(),
      [...ids].reverse().map((siteId) => siteOf({ siteId })),
    );
    expect(forward.siteIds).toEqual(['alpha', 'beta', 'mid', 'zeta']);
    expect(backward.siteIds).toEqual(forward.siteIds);
  });

  it('does not reorder the sites it is given', () => {
    const sites = [siteOf({ siteId: 'b' }), siteOf({ siteId: 'a' })];
    brokerTask(spec(), sites);
    expect(sites.map((s) => s.siteId)).toEqual(['b', 'a']);
  });
});

describe('describeNoSite', () => {
  it('says no site is defined when there is none', () => {
    expect(describeNoSite(brokerTask(spec(), []))).toBe('no site is defined');
  });

  it('lists every rejected site with its reason', () => {
    const result = brokerTask(spec({ resources: { cores: 2 } }), [
      siteOf({ siteId: 'down', status: 'offline' }),
      siteOf({ siteId: 'tiny' }),
    ]);
    expect(describeNoSite(result)).toBe(
      'no site can run the jobs: down (site is offline), tiny (needs 2 cores, slots have 1)',
    );
  });
});
