/**
 * The SiteStore contract (core/sites/ports.ts), written once and run against every implementation:
 * the in-memory fake the unit tests use and the DynamoDB adapter production uses.
 */
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ProvisioningDecision } from '#core/provisioning/provisioning-decision.ts';
import { PROVISIONING_HISTORY_MAX, SITE_HISTORY_MAX, type SiteStore } from '#core/sites/ports.ts';
import { type Site, type SiteInput, SiteSchema, type StatusChange } from '#core/sites/site.ts';
import { bucketOf, type OutcomeEntry, type OutcomeKind } from '#core/sites/site-outcomes.ts';

const CENSUS = { starting: 1, idle: 2, busy: 3, draining: 0 };
const AT = '2026-11-25T10:00:00.000Z';
const LATER = '2026-11-25T10:01:00.000Z';
const KEEP_ALL = '2026-11-25T00:00:00.000Z';
const SICK: StatusChange = {
  at: AT,
  from: 'online',
  to: 'test',
  reason: 'stage-in failing',
  by: 'site-health',
};
const BACK: StatusChange = {
  at: LATER,
  from: 'test',
  to: 'online',
  reason: 'test task done',
  by: 'site-health',
};
const TEST_TASK = { taskId: 't-000042', sentAt: AT, failures: 0 };

const ASKED = { market: 'spot' as const, count: 2, slots: 4, hourlyUsd: 0.074 };

/** A decision of the provisioner's: by default, nothing asked for lack of demand. */
function decision(
  siteId: string,
  at: string,
  overrides: Partial<ProvisioningDecision> = {},
): ProvisioningDecision {
  return {
    siteId,
    at,
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
    prices: { 'm5.large/spot': { hourlyUsd: 0.037, source: 'table', asOf: '2026-11-01' } },
    errors: [],
    summary: overrides.requested === undefined ? 'nothing asked: no queued work' : 'asked for 4 slots',
    ...overrides,
  };
}

function entry(seq: string, kind: OutcomeKind = 'stageIn', at = LATER): OutcomeEntry {
  return { seq, at, bucket: bucketOf(at), kind };
}

/** A site of an id no other test uses, with the schema's defaults filled. */
function newSite(overrides: Partial<SiteInput> = {}): Site {
  return SiteSchema.parse({ siteId: `site-${randomBytes(6).toString('hex')}`, ...overrides });
}

/**
 * `makeStore` gives a new, empty store. Most tests share one (each works on sites of its own);
 * the listing tests make their own, to know every site in it.
 */
export function describeSiteStoreContract(name: string, makeStore: () => Promise<SiteStore>): void {
  describe(`${name} (SiteStore contract)`, () => {
    let store: SiteStore;
    beforeAll(async () => {
      store = await makeStore();
    });

    it('puts a site and reads it back; an unknown site is undefined', async () => {
      const site = newSite({
        kind: 'hpc',
        maxPilots: 7,
        tags: ['slurm'],
        slot: { cores: 8, memoryMB: 32_000, walltimeSec: 172_800, diskMB: 100_000 },
      });
      await store.put(site);
      expect(await store.get(site.siteId)).toEqual(site);
      expect(await store.get(newSite().siteId)).toBeUndefined();
    });

    it('redefines a site: the new definition replaces the old one', async () => {
      const site = newSite({ tags: ['spot', 'cheap'], maxPilots: 3 });
      await store.put(site);
      const redefined = { ...site, status: 'offline' as const, tags: [], maxPilots: 0 };
      await store.put(redefined);
      expect(await store.get(site.siteId)).toEqual(redefined);
    });

    it('records the provisioning decision of a site, keeps it when the site is defined again, and keeps noteworthy ones in its history', async () => {
      const site = newSite({ kind: 'cloud', maxPilots: 10 });
      await store.put(site);
      const asked = decision(site.siteId, AT, { requested: [ASKED], started: 2 });
      await store.recordProvisioning(site.siteId, asked);
      expect((await store.get(site.siteId))?.provisioned).toEqual(asked);

      // Nothing asked, but the reason changed: noteworthy. The same again: not.
      const quiet = decision(site.siteId, LATER);
      await store.recordProvisioning(site.siteId, quiet);
      await store.recordProvisioning(site.siteId, { ...quiet, at: '2026-11-25T10:02:00.000Z' });
      const redefined = { ...site, maxPilots: 20 };
      await store.put(redefined);
      expect(await store.get(site.siteId)).toEqual({
        ...redefined,
        provisioned: { ...quiet, at: '2026-11-25T10:02:00.000Z' },
      });
      expect(await store.provisioningHistory(site.siteId)).toEqual([asked, quiet]);

      // A site never provisioned has no history; an unknown site gets nothing written.
      expect(await store.provisioningHistory(newSite().siteId)).toEqual([]);
      const unknown = newSite().siteId;
      await store.recordProvisioning(unknown, decision(unknown, AT));
      expect(await store.get(unknown)).toBeUndefined();
      expect(await store.provisioningHistory(unknown)).toEqual([]);
    });

    it(`keeps the last ${PROVISIONING_HISTORY_MAX} noteworthy provisioning decisions`, async () => {
      const site = newSite({ kind: 'cloud' });
      await store.put(site);
      const n = PROVISIONING_HISTORY_MAX + 3;
      for (let i = 0; i < n; i++) {
        const at = new Date(Date.parse(AT) + i * 60_000).toISOString();
        await store.recordProvisioning(
          site.siteId,
          decision(site.siteId, at, { requested: [ASKED], started: i }),
        );
      }
      const history = await store.provisioningHistory(site.siteId);
      expect(history).toHaveLength(PROVISIONING_HISTORY_MAX);
      expect(history[0]?.started).toBe(3);
      expect(history.at(-1)?.started).toBe(n - 1);
    });

    it('records the census of a site, replaced by the next, and keeps it when the site is defined again', async () => {
      const site = newSite({ maxPilots: 10 });
      await store.put(site);
      await store.recordCensus(site.siteId, CENSUS, AT);
      expect(await store.get(site.siteId)).toEqual({ ...site, census: { pilots: CENSUS, at: AT } });

      const redefined = { ...site, maxPilots: 20, status: 'test' as const };
      await store.put(redefined);
      expect(await store.get(site.siteId)).toEqual({ ...redefined, census: { pilots: CENSUS, at: AT } });

      const later = { starting: 0, idle: 0, busy: 1, draining: 1 };
      await store.recordCensus(site.siteId, later, LATER);
      expect(await store.get(site.siteId)).toEqual({ ...redefined, census: { pilots: later, at: LATER } });
    });

    it('records no census of a site that does not exist, creating none', async () => {
      const siteId = newSite().siteId;
      await store.recordCensus(siteId, CENSUS, AT);
      expect(await store.get(siteId)).toBeUndefined();
    });

    it('lists every site once, in id order, with its census', async () => {
      const sites = await makeStore();
      const b = newSite({ siteId: 'site-b', maxPilots: 3 });
      const a = newSite({ siteId: 'site-a', kind: 'grid' });
      const c = newSite({ siteId: 'site-c', status: 'offline' });
      for (const site of [b, c, a]) await sites.put(site);
      await sites.put({ ...b, maxPilots: 4 });
      await sites.recordCensus('site-c', CENSUS, AT);
      await sites.recordCensus('site-never', CENSUS, AT);

      expect(await sites.list()).toEqual([
        a,
        { ...b, maxPilots: 4 },
        { ...c, census: { pilots: CENSUS, at: AT } },
      ]);
    });

    it('lists no site of an empty store', async () => {
      expect(await (await makeStore()).list()).toEqual([]);
    });

    it('removes a field of the definition that a new definition leaves out', async () => {
      const site = newSite({ test: { jobs: 3 }, health: { maxInfraFailureFraction: 0.3 }, maxQueued: 20 });
      await store.put(site);
      expect((await store.get(site.siteId))?.test?.jobs).toBe(3);
      const { test: _test, health: _health, maxQueued: _maxQueued, ...plain } = site;
      await store.put(plain);
      expect(await store.get(site.siteId)).toEqual(plain);
    });

    it('defines a site fenced on its absence, recording its first status, and refuses a second such definition', async () => {
      const site = newSite();
      const defined: StatusChange = { at: AT, to: 'online', reason: 'site defined', by: 'operator:ops' };
      expect(await store.put(site, { expected: 'absent', change: defined })).toBe('ok');
      expect(await store.get(site.siteId)).toEqual({ ...site, statusChange: defined, statusVersion: 1 });
      expect(await store.history(site.siteId)).toEqual([defined]);
      expect(await store.put({ ...site, maxPilots: 1 }, { expected: 'absent', change: defined })).toBe(
        'conflict',
      );
      expect((await store.get(site.siteId))?.maxPilots).toBe(site.maxPilots);
    });

    it('moves a site’s status fenced on the status and version seen, keeping its history and census', async () => {
      const site = newSite();
      await store.put(site);
      await store.recordCensus(site.siteId, CENSUS, AT);
      expect(await store.changeStatus(site.siteId, { status: 'online', version: 0 }, SICK, TEST_TASK)).toBe(
        'ok',
      );
      // Seen before that change: stale.
      expect(await store.changeStatus(site.siteId, { status: 'online', version: 0 }, SICK)).toBe('conflict');
      expect(await store.changeStatus(site.siteId, { status: 'test', version: 0 }, BACK)).toBe('conflict');
      expect(await store.get(site.siteId)).toEqual({
        ...site,
        status: 'test',
        census: { pilots: CENSUS, at: AT },
        statusChange: SICK,
        statusVersion: 1,
        testTask: TEST_TASK,
      });
      expect(await store.changeStatus(site.siteId, { status: 'test', version: 1 }, BACK)).toBe('ok');
      const back = await store.get(site.siteId);
      expect(back).toMatchObject({ status: 'online', statusChange: BACK, statusVersion: 2 });
      expect(back?.testTask).toBeUndefined();
      expect(await store.history(site.siteId)).toEqual([SICK, BACK]);
      expect(await store.changeStatus(newSite().siteId, { status: 'online', version: 0 }, SICK)).toBe(
        'conflict',
      );
    });

    it('puts a definition fenced on the status seen: a status changed since is a conflict, nothing written', async () => {
      const site = newSite({ maxPilots: 5 });
      await store.put(site);
      await store.changeStatus(site.siteId, { status: 'online', version: 0 }, SICK);
      const change: StatusChange = { ...BACK, by: 'operator:ops' };
      const stale = { expected: { status: 'online' as const, version: 0 }, change };
      expect(await store.put({ ...site, maxPilots: 9 }, stale)).toBe('conflict');
      expect(await store.put({ ...site, status: 'test', maxPilots: 9 }, { expected: stale.expected })).toBe(
        'conflict',
      );
      expect((await store.get(site.siteId))?.maxPilots).toBe(5);

      const seen = { status: 'test' as const, version: 1 };
      expect(await store.put({ ...site, maxPilots: 9 }, { expected: seen, change })).toBe('ok');
      expect(await store.get(site.siteId)).toMatchObject({
        status: 'online',
        maxPilots: 9,
        statusVersion: 2,
      });
      expect((await store.history(site.siteId)).map((c) => c.by)).toEqual(['site-health', 'operator:ops']);
    });

    it(`keeps the last ${SITE_HISTORY_MAX} status changes`, async () => {
      const site = newSite();
      await store.put(site);
      let status: 'online' | 'test' = 'online';
      for (let version = 0; version <= SITE_HISTORY_MAX; version++) {
        const to: 'online' | 'test' = status === 'online' ? 'test' : 'online';
        const change = { at: AT, from: status, to, reason: `change ${version}`, by: 'site-health' } as const;
        expect(await store.changeStatus(site.siteId, { status, version }, change)).toBe('ok');
        status = to;
      }
      const history = await store.history(site.siteId);
      expect(history).toHaveLength(SITE_HISTORY_MAX);
      expect(history[0]?.reason).toBe('change 1');
      expect(history.at(-1)?.reason).toBe(`change ${SITE_HISTORY_MAX}`);
    });

    it('records a test task fenced on the status version and the test task seen', async () => {
      const site = newSite();
      await store.put(site);
      await store.changeStatus(site.siteId, { status: 'online', version: 0 }, SICK);
      expect(await store.setTestTask(site.siteId, { version: 0, testTask: undefined }, TEST_TASK)).toBe(
        'conflict',
      );
      expect(await store.setTestTask(site.siteId, { version: 1, testTask: undefined }, TEST_TASK)).toBe('ok');
      expect(await store.setTestTask(site.siteId, { version: 1, testTask: undefined }, TEST_TASK)).toBe(
        'conflict',
      );
      const failed = { ...TEST_TASK, failures: 1, failedAt: LATER };
      expect(await store.setTestTask(site.siteId, { version: 1, testTask: TEST_TASK }, failed)).toBe('ok');
      expect(await store.setTestTask(site.siteId, { version: 1, testTask: TEST_TASK }, failed)).toBe(
        'conflict',
      );
      const next = { taskId: 't-000043', sentAt: LATER, failures: 1 };
      expect(await store.setTestTask(site.siteId, { version: 1, testTask: failed }, next)).toBe('ok');
      expect((await store.get(site.siteId))?.testTask).toEqual(next);
      expect(await store.setTestTask(newSite().siteId, { version: 0, testTask: undefined }, next)).toBe(
        'conflict',
      );
    });

    it('counts the outcomes of each feed once per change, whatever the redeliveries', async () => {
      const { siteId } = newSite();
      const options = { at: LATER, keepFrom: KEEP_ALL };
      await store.addOutcomes(siteId, 'shard-1', [entry('9'), entry('10', 'finished')], options);
      await store.addOutcomes(siteId, 'shard-1', [entry('9'), entry('10', 'finished'), entry('11')], options);
      await store.addOutcomes(siteId, 'shard-1', [entry('100', 'userFailed')], options);
      await store.addOutcomes(siteId, 'shard-2', [entry('9')], options);
      await Promise.all([
        store.addOutcomes(siteId, 'shard-3', [entry('1', 'pilotLost')], options),
        store.addOutcomes(siteId, 'shard-3', [entry('1', 'pilotLost')], options),
        store.addOutcomes(siteId, 'shard-4', [entry('1', 'workdir')], options),
      ]);
      expect(await store.outcomes(siteId)).toEqual({
        buckets: { [bucketOf(LATER)]: { stageIn: 3, finished: 1, userFailed: 1, pilotLost: 1, workdir: 1 } },
      });
    });

    it('counts each unhealthy pilot once', async () => {
      const { siteId } = newSite();
      const at = { at: AT, bucket: bucketOf(AT) };
      await store.addUnhealthyPilot(siteId, 'p-1', at, { keepFrom: KEEP_ALL });
      await store.addUnhealthyPilot(siteId, 'p-1', at, { keepFrom: KEEP_ALL });
      await store.addUnhealthyPilot(siteId, 'p-2', at, { keepFrom: KEEP_ALL });
      expect(await store.outcomes(siteId)).toEqual({ buckets: { [bucketOf(AT)]: { nodeChecks: 2 } } });
    });

    it('starts the outcomes again at a status change, dropping ends from before it', async () => {
      const site = newSite();
      await store.put(site);
      await store.addOutcomes(site.siteId, 'shard-1', [entry('1', 'stageIn', AT)], {
        at: AT,
        keepFrom: KEEP_ALL,
      });
      const change = { ...SICK, at: '2026-11-25T10:00:30.000Z' };
      await store.changeStatus(site.siteId, { status: 'online', version: 0 }, change);
      expect(await store.outcomes(site.siteId)).toEqual({ since: change.at, buckets: {} });
      // A late change of the feed from before the status change, and a new one.
      await store.addOutcomes(
        site.siteId,
        'shard-1',
        [entry('1', 'stageIn', AT), entry('2', 'stageIn', AT), entry('3')],
        {
          at: LATER,
          keepFrom: KEEP_ALL,
        },
      );
      expect(await store.outcomes(site.siteId)).toEqual({
        since: change.at,
        buckets: { [bucketOf(LATER)]: { stageIn: 1 } },
      });
    });

    it('forgets buckets older than kept, and has no outcomes for a site never counted', async () => {
      const { siteId } = newSite();
      await store.addOutcomes(siteId, 'shard-1', [entry('1', 'stageIn', AT)], { at: AT, keepFrom: KEEP_ALL });
      const late = '2026-11-25T13:00:00.000Z';
      await store.addOutcomes(siteId, 'shard-2', [entry('1', 'finished', late)], {
        at: late,
        keepFrom: '2026-11-25T11:00:00.000Z',
      });
      expect(await store.outcomes(siteId)).toEqual({ buckets: { [bucketOf(late)]: { finished: 1 } } });
      expect(await store.outcomes(newSite().siteId)).toEqual({ buckets: {} });
    });

    it('lists sites only, never their history or outcomes', async () => {
      const sites = await makeStore();
      const site = newSite({ siteId: 'site-x' });
      await sites.put(site);
      await sites.changeStatus('site-x', { status: 'online', version: 0 }, SICK);
      await sites.addOutcomes('site-x', 'shard-1', [entry('1')], { at: LATER, keepFrom: KEEP_ALL });
      await sites.addUnhealthyPilot(
        'site-y',
        'p-1',
        { at: LATER, bucket: bucketOf(LATER) },
        { keepFrom: KEEP_ALL },
      );
      expect((await sites.list()).map((s) => s.siteId)).toEqual(['site-x']);
    });
  });
}
