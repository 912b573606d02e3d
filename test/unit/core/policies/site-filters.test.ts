import { describe, expect, it } from 'vitest';
import type { FilterName } from '#core/policies/brokerage-decision.ts';
import {
  type BrokerSite,
  capacityFilter,
  DEFAULT_FILTER_OPTIONS,
  FILTER_CHAIN,
  failuresFilter,
  featuresFilter,
  firstRejection,
  listsFilter,
  queueFilter,
  resourcesFilter,
  type SiteFacts,
  type SiteFilter,
  statusFilter,
} from '#core/policies/site-filters.ts';
import type { SiteInput } from '#core/sites/site.ts';
import { parseTaskSpec, type TaskSpecInput } from '#core/tasks/task-spec.ts';
import { siteOf } from '#test/support/in-memory-ports.ts';

function spec(fields: Partial<TaskSpecInput> = {}) {
  return parseTaskSpec({
    name: 'f',
    payload: { command: 'x' },
    events: 10,
    split: { eventsPerJob: 1 },
    ...fields,
  });
}

function facts(
  input: Partial<SiteInput> = {},
  extra: Partial<Omit<SiteFacts, 'site'>> & { recent?: BrokerSite['recent'] } = {},
): SiteFacts {
  const { recent, ...rest } = extra;
  return {
    site: { ...siteOf({ siteId: 'cern', ...input }), ...(recent === undefined ? {} : { recent }) },
    ...rest,
  };
}

type Case = [
  string,
  SiteFilter,
  Partial<TaskSpecInput>,
  SiteFacts,
  'pass' | { reason: string; details: object },
];

const SLOT = { cores: 4, memoryMB: 8000, walltimeSec: 86_400, diskMB: 20_000 };

describe.each<Case>([
  // status: a site in test takes only test tasks, and those go nowhere else.
  ['an online site', statusFilter, {}, facts(), 'pass'],
  [
    'an offline site',
    statusFilter,
    {},
    facts({ status: 'offline' }),
    { reason: 'site is offline', details: { status: 'offline' } },
  ],
  [
    'a site in test, for a user task',
    statusFilter,
    {},
    facts({ status: 'test' }),
    { reason: 'site is test', details: { status: 'test' } },
  ],
  ['a site in test, for its test task', statusFilter, { siteTest: true }, facts({ status: 'test' }), 'pass'],
  [
    'an online site, for a test task',
    statusFilter,
    { siteTest: true },
    facts(),
    { reason: 'test tasks go only to sites in test', details: { status: 'online', siteTest: true } },
  ],
  [
    'an offline site, for a test task',
    statusFilter,
    { siteTest: true },
    facts({ status: 'offline' }),
    { reason: 'test tasks go only to sites in test', details: { status: 'offline', siteTest: true } },
  ],
  // lists
  ['a site on sites.allow', listsFilter, { sites: { allow: ['cern'] } }, facts(), 'pass'],
  [
    'a site not on sites.allow',
    listsFilter,
    { sites: { allow: ['bnl'] } },
    facts(),
    { reason: 'not in sites.allow', details: { list: 'allow' } },
  ],
  [
    'a site on sites.deny',
    listsFilter,
    { sites: { deny: ['cern'] } },
    facts(),
    { reason: 'in sites.deny', details: { list: 'deny' } },
  ],
  ['any site without lists', listsFilter, {}, facts(), 'pass'],
  // resources and walltime against one slot
  ['slots exactly the size of the job', resourcesFilter, { resources: SLOT }, facts({ slot: SLOT }), 'pass'],
  [
    'too few cores',
    resourcesFilter,
    { resources: { cores: 8 } },
    facts({ slot: SLOT }),
    { reason: 'needs 8 cores, slots have 4', details: { resource: 'cores', needs: 8, offers: 4 } },
  ],
  [
    'too little memory',
    resourcesFilter,
    { resources: { memoryMB: 16_000 } },
    facts({ slot: SLOT }),
    {
      reason: 'needs 16000 MB memory, slots have 8000',
      details: { resource: 'memoryMB', needs: 16_000, offers: 8000 },
    },
  ],
  [
    'too short a walltime',
    resourcesFilter,
    { resources: { walltimeSec: 172_800 } },
    facts({ slot: SLOT }),
    {
      reason: 'needs 172800 s walltime, slots have 86400 s',
      details: { resource: 'walltimeSec', needs: 172_800, offers: 86_400 },
    },
  ],
  [
    'too little disk',
    resourcesFilter,
    { resources: { diskMB: 50_000 } },
    facts({ slot: SLOT }),
    {
      reason: 'needs 50000 MB disk, slots have 20000',
      details: { resource: 'diskMB', needs: 50_000, offers: 20_000 },
    },
  ],
  // tags, GPUs, architecture
  ['a job with no GPU, arch or tags', featuresFilter, {}, facts(), 'pass'],
  [
    'a GPU job at a site with GPUs',
    featuresFilter,
    { resources: { gpus: 2 } },
    facts({ slot: { ...SLOT, gpus: 4 } }),
    'pass',
  ],
  [
    'a GPU job at a site without',
    featuresFilter,
    { resources: { gpus: 1 } },
    facts({ slot: SLOT }),
    { reason: 'needs 1 GPU, slots have 0', details: { resource: 'gpus', needs: 1, offers: 0 } },
  ],
  [
    'more GPUs than a slot has',
    featuresFilter,
    { resources: { gpus: 4 } },
    facts({ slot: { ...SLOT, gpus: 2 } }),
    { reason: 'needs 4 GPUs, slots have 2', details: { resource: 'gpus', needs: 4, offers: 2 } },
  ],
  [
    'an x86_64 job at a site that does not say (x86_64)',
    featuresFilter,
    { resources: { arch: 'x86_64' } },
    facts(),
    'pass',
  ],
  [
    'an aarch64 job at an aarch64 site',
    featuresFilter,
    { resources: { arch: 'aarch64' } },
    facts({ slot: { ...SLOT, arch: 'aarch64' } }),
    'pass',
  ],
  [
    'an aarch64 job at a site that does not say',
    featuresFilter,
    { resources: { arch: 'aarch64' } },
    facts(),
    {
      reason: 'needs aarch64, slots are x86_64',
      details: { resource: 'arch', needs: 'aarch64', offers: 'x86_64' },
    },
  ],
  [
    'a job without arch at an aarch64 site',
    featuresFilter,
    {},
    facts({ slot: { ...SLOT, arch: 'aarch64' } }),
    'pass',
  ],
  [
    'tags the site has',
    featuresFilter,
    { resources: { tags: ['cvmfs'] } },
    facts({ tags: ['cvmfs', 'apptainer'] }),
    'pass',
  ],
  [
    'tags the site lacks',
    featuresFilter,
    { resources: { tags: ['cvmfs', 'apptainer', 'infiniband'] } },
    facts({ tags: ['cvmfs'] }),
    { reason: 'lacks tags apptainer, infiniband', details: { missing: ['apptainer', 'infiniband'] } },
  ],
  [
    'one tag the site lacks',
    featuresFilter,
    { resources: { tags: ['cvmfs'] } },
    facts(),
    { reason: 'lacks tag cvmfs', details: { missing: ['cvmfs'] } },
  ],
  // capacity
  ['a site with pilots allowed', capacityFilter, {}, facts({ maxPilots: 1 }), 'pass'],
  [
    'a site that allows no pilots',
    capacityFilter,
    {},
    facts({ maxPilots: 0 }),
    { reason: 'allows no pilots (maxPilots 0)', details: { maxPilots: 0 } },
  ],
  // queue: maxQueued, else twice maxPilots, at least 100
  ['a queue whose depth is unknown', queueFilter, {}, facts({ maxQueued: 0 }), 'pass'],
  ['a queue below maxQueued', queueFilter, {}, facts({ maxQueued: 5 }, { queuedJobs: 4 }), 'pass'],
  [
    'a queue at maxQueued',
    queueFilter,
    {},
    facts({ maxQueued: 5 }, { queuedJobs: 5 }),
    { reason: 'queue full: 5 jobs waiting, maxQueued 5', details: { queuedJobs: 5, maxQueued: 5 } },
  ],
  [
    'a queue at twice maxPilots when maxQueued is left out',
    queueFilter,
    {},
    facts({ maxPilots: 60 }, { queuedJobs: 121 }),
    { reason: 'queue full: 121 jobs waiting, maxQueued 120', details: { queuedJobs: 121, maxQueued: 120 } },
  ],
  [
    'a small site holds at least 100 when maxQueued is left out',
    queueFilter,
    {},
    facts({ maxPilots: 2 }, { queuedJobs: 99 }),
    'pass',
  ],
  // recent failures (site health, when recorded)
  ['a site without health records', failuresFilter, {}, facts(), 'pass'],
  [
    'a failure rate at the threshold',
    failuresFilter,
    {},
    facts({}, { recent: { failureRate: 0.5, attempts: 20 } }),
    'pass',
  ],
  [
    'a high failure rate over too few attempts',
    failuresFilter,
    {},
    facts({}, { recent: { failureRate: 0.9, attempts: 9 } }),
    'pass',
  ],
  [
    'a high failure rate over enough attempts',
    failuresFilter,
    {},
    facts({}, { recent: { failureRate: 0.75, attempts: 40 } }),
    {
      reason: '75% of its last 40 attempts failed (more than 50%)',
      details: { failureRate: 0.75, attempts: 40, maxFailureRate: 0.5 },
    },
  ],
])('%s', (_name, filter, fields, site, expected) => {
  it(`${filter.name} says ${expected === 'pass' ? 'pass' : 'why not'}`, () => {
    expect(filter(spec(fields), site, DEFAULT_FILTER_OPTIONS)).toEqual(expected);
  });
});

describe('failuresFilter options', () => {
  it('uses the threshold and the number of attempts it is given', () => {
    const site = facts({}, { recent: { failureRate: 0.3, attempts: 5 } });
    expect(failuresFilter(spec(), site, { maxFailureRate: 0.5, minAttempts: 10 })).toBe('pass');
    expect(failuresFilter(spec(), site, { maxFailureRate: 0.2, minAttempts: 5 })).toMatchObject({
      reason: '30% of its last 5 attempts failed (more than 20%)',
    });
  });
});

describe('firstRejection', () => {
  it('runs the chain in order: the hard filters status, lists, resources, features, data; the soft capacity, queue, failures', () => {
    expect(FILTER_CHAIN.map((l) => [l.name, l.soft])).toEqual([
      ['status', false],
      ['lists', false],
      ['resources', false],
      ['features', false],
      ['data', false],
      ['capacity', true],
      ['queue', true],
      ['failures', true],
    ]);
  });

  it.each<[string, Partial<TaskSpecInput>, Partial<SiteInput>, FilterName | undefined]>([
    ['offline and too small: status first', { resources: { cores: 64 } }, { status: 'offline' }, 'status'],
    [
      'denied and too small: lists first',
      { resources: { cores: 64 }, sites: { deny: ['cern'] } },
      {},
      'lists',
    ],
    ['too small and no GPU: resources first', { resources: { cores: 64, gpus: 1 } }, {}, 'resources'],
    ['no GPU and no pilots: features first', { resources: { gpus: 1 } }, { maxPilots: 0 }, 'features'],
    ['no pilots: soft, so not a hard filter', {}, { maxPilots: 0 }, undefined],
    ['fits', {}, {}, undefined],
  ])('names the first hard filter a site fails (%s)', (_name, fields, site, filter) => {
    expect(firstRejection(spec(fields), facts(site, { queuedJobs: 1e6 }))?.filter).toBe(filter);
  });

  it('leaves the soft filters out unless asked for them', () => {
    const full = facts({ maxQueued: 1 }, { queuedJobs: 5 });
    expect(firstRejection(spec(), full)).toBeUndefined();
    expect(firstRejection(spec(), full, DEFAULT_FILTER_OPTIONS, FILTER_CHAIN)).toMatchObject({
      filter: 'queue',
      reason: 'queue full: 5 jobs waiting, maxQueued 1',
    });
    const drained = facts({ maxPilots: 0 });
    expect(firstRejection(spec(), drained)).toBeUndefined();
    expect(firstRejection(spec(), drained, DEFAULT_FILTER_OPTIONS, FILTER_CHAIN)?.filter).toBe('capacity');
  });
});
