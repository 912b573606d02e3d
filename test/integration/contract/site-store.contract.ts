/**
 * The SiteStore contract (core/sites/ports.ts), written once and run against every implementation:
 * the in-memory fake the unit tests use and the DynamoDB adapter production uses.
 */
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { SiteStore } from '#core/sites/ports.ts';
import { type Site, type SiteInput, SiteSchema } from '#core/sites/site.ts';

const CENSUS = { starting: 1, idle: 2, busy: 3, draining: 0 };
const AT = '2026-11-25T10:00:00.000Z';
const LATER = '2026-11-25T10:01:00.000Z';

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
  });
}
