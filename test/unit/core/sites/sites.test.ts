import { describe, expect, it } from 'vitest';
import { ValidationError } from '#core/errors.ts';
import { emptyCensus } from '#core/sites/site.ts';
import { listSites, putSite, siteView } from '#core/sites/sites.ts';
import { DEFAULT_START, inMemoryDeps, siteOf } from '#test/support/in-memory-ports.ts';

const SLOT = { cores: 4, memoryMB: 8000, walltimeSec: 86_400, diskMB: 20_000 };
const body = { kind: 'grid' as const, status: 'online' as const, slot: SLOT, maxPilots: 50, tags: ['el9'] };

describe('putSite', () => {
  it('creates the site queue first, then stores the site and shows it with its queue', async () => {
    const deps = inMemoryDeps();
    const view = await putSite(deps, 'cern', body);
    expect(view).toEqual({ siteId: 'cern', ...body, queueUrl: await deps.queue.queueUrl('cern') });
    expect(deps.queue.queues.has('cern')).toBe(true);
    expect(await deps.sites.get('cern')).toEqual({ siteId: 'cern', ...body });
  });

  it('accepts a body that names the site of the path', async () => {
    const deps = inMemoryDeps();
    expect((await putSite(deps, 'cern', { ...body, siteId: 'cern' })).siteId).toBe('cern');
  });

  it('throws ValidationError naming siteId when the body names another site, storing nothing', async () => {
    const deps = inMemoryDeps();
    const error = await putSite(deps, 'cern', { ...body, siteId: 'bnl' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues).toEqual([
      { field: 'siteId', message: 'must be cern (the path) or left out' },
    ]);
    expect(await deps.sites.list()).toEqual([]);
    expect(deps.queue.queues.size).toBe(0);
  });

  it('updates a site and keeps the census of its pilots', async () => {
    const deps = inMemoryDeps();
    await putSite(deps, 'cern', body);
    await deps.sites.recordCensus('cern', { ...emptyCensus(), busy: 2 }, DEFAULT_START);
    const view = await putSite(deps, 'cern', { ...body, status: 'offline' });
    expect(view).toMatchObject({
      status: 'offline',
      pilots: { ...emptyCensus(), busy: 2 },
      censusAt: DEFAULT_START,
    });
    expect((await deps.sites.get('cern'))?.status).toBe('offline');
  });
});

describe('listSites', () => {
  it('lists every site by id, with its census when there is one', async () => {
    const deps = inMemoryDeps();
    await deps.sites.put(siteOf({ siteId: 'desy' }));
    await deps.sites.put(siteOf({ siteId: 'bnl' }));
    await deps.sites.recordCensus('desy', { ...emptyCensus(), idle: 1 }, DEFAULT_START);
    const { items, nextToken } = await listSites(deps);
    expect(items.map((s) => s.siteId)).toEqual(['bnl', 'desy']);
    expect(items[0]).not.toHaveProperty('pilots');
    expect(items[1]).toMatchObject({ pilots: { idle: 1 }, censusAt: DEFAULT_START });
    expect(nextToken).toBeUndefined();
  });
});

describe('siteView', () => {
  it('shows the definition, the queue when given, and the census as pilots and censusAt', () => {
    const site = siteOf({ siteId: 'cern' });
    expect(siteView(site)).toEqual(site);
    expect(siteView({ ...site, census: { pilots: emptyCensus(), at: DEFAULT_START } }, 'q')).toEqual({
      ...site,
      queueUrl: 'q',
      pilots: emptyCensus(),
      censusAt: DEFAULT_START,
    });
  });
});
