// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${name} placeholders are literal text in task specs
import { describe, expect, it, vi } from 'vitest';
import { NotFoundError, ValidationError } from '#core/errors.ts';
import { emptyCensus, SiteTestSchema } from '#core/sites/site.ts';
import { bucketOf } from '#core/sites/site-outcomes.ts';
import { getSite, listSites, putSite, siteView } from '#core/sites/sites.ts';
import { DEFAULT_START, inMemoryDeps, siteOf } from '#test/support/in-memory-ports.ts';
import { generationSpec, runningTask } from '../scenario.ts';

const SLOT = { cores: 4, memoryMB: 8000, walltimeSec: 86_400, diskMB: 20_000 };
const body = { kind: 'grid' as const, status: 'online' as const, slot: SLOT, maxPilots: 50, tags: ['el9'] };

describe('putSite', () => {
  it('creates the site queue first, then stores the site and shows it with its queue', async () => {
    const deps = inMemoryDeps();
    const view = await putSite(deps, 'cern', body, 'operator:alice');
    const defined = { at: DEFAULT_START, to: 'online', reason: 'site defined', by: 'operator:alice' };
    expect(view).toEqual({
      siteId: 'cern',
      ...body,
      queueUrl: await deps.queue.queueUrl('cern'),
      statusChange: defined,
    });
    expect(deps.queue.queues.has('cern')).toBe(true);
    expect(await deps.sites.get('cern')).toEqual({
      siteId: 'cern',
      ...body,
      statusChange: defined,
      statusVersion: 1,
    });
    expect(await deps.sites.history('cern')).toEqual([defined]);
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

describe('putSite of a cloud site', () => {
  const cloud = {
    ...body,
    kind: 'cloud' as const,
    provisioning: {
      type: 'ec2' as const,
      instanceTypes: [{ type: 'm5.2xlarge', weight: 2 }],
      market: 'spot-first' as const,
      subnets: ['subnet-0123abcd'],
      maxInstances: 4,
      maxHourlyUsd: 2,
      pilots: 'slot' as const,
      idleExitSec: 300,
    },
  };

  it('stores the provisioning of a cloud site and shows it', async () => {
    const deps = inMemoryDeps();
    const view = await putSite(deps, 'aws', cloud);
    expect(view.provisioning).toEqual(cloud.provisioning);
    expect((await deps.sites.get('aws'))?.provisioning).toEqual(cloud.provisioning);
  });

  it('throws ValidationError naming the field of a type that fits no slot, creating and storing nothing', async () => {
    const deps = inMemoryDeps();
    const provisioning = { ...cloud.provisioning, instanceTypes: [{ type: 'c5.large' }] };
    const error = await putSite(deps, 'aws', { ...cloud, provisioning }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues.map((i) => i.field)).toEqual([
      'provisioning.instanceTypes.0.type',
    ]);
    expect(await deps.sites.list()).toEqual([]);
    expect(deps.queue.queues.size).toBe(0);
  });

  it('throws ValidationError naming provisioning on a grid site, leaving the stored site as it was', async () => {
    const deps = inMemoryDeps();
    await putSite(deps, 'cern', body);
    const error = await putSite(deps, 'cern', { ...body, provisioning: cloud.provisioning }).catch(
      (e: unknown) => e,
    );
    expect((error as ValidationError).issues.map((i) => i.field)).toEqual(['provisioning']);
    expect((await deps.sites.get('cern'))?.provisioning).toBeUndefined();
  });
});

describe('putSite and the status', () => {
  const SICK = {
    at: DEFAULT_START,
    from: 'online' as const,
    to: 'test' as const,
    reason: 'sick',
    by: 'site-health',
  };

  it('keeps the status of a site when the body leaves it out, and records no change', async () => {
    const deps = inMemoryDeps();
    await putSite(deps, 'cern', body);
    await deps.sites.changeStatus('cern', { status: 'online', version: 1 }, SICK);
    const { status: _status, ...withoutStatus } = body;
    const view = await putSite(deps, 'cern', { ...withoutStatus, maxPilots: 7 });
    expect(view).toMatchObject({ status: 'test', maxPilots: 7, statusChange: SICK });
    expect((await deps.sites.history('cern')).map((c) => c.to)).toEqual(['online', 'test']);
  });

  it('records an operator’s change with the reason given, from the status it replaced', async () => {
    const deps = inMemoryDeps();
    await putSite(deps, 'cern', body, 'operator:alice');
    deps.clock.advance(60_000);
    await putSite(deps, 'cern', { ...body, status: 'offline', reason: 'downtime GGUS 1234' }, 'operator:bob');
    expect(await deps.sites.history('cern')).toEqual([
      { at: DEFAULT_START, to: 'online', reason: 'site defined', by: 'operator:alice' },
      {
        at: '2026-01-01T00:01:00.000Z',
        from: 'online',
        to: 'offline',
        reason: 'downtime GGUS 1234',
        by: 'operator:bob',
      },
    ]);
  });

  it('wins over site health: a change site health made meanwhile is read again and replaced, both recorded', async () => {
    const deps = inMemoryDeps();
    await putSite(deps, 'cern', body);
    const get = deps.sites.get.bind(deps.sites);
    // Site health moves the site between the operator's read and write.
    vi.spyOn(deps.sites, 'get').mockImplementationOnce(async (siteId) => {
      const seen = await get(siteId);
      await deps.sites.changeStatus('cern', { status: 'online', version: 1 }, SICK);
      return seen;
    });
    const view = await putSite(
      deps,
      'cern',
      { ...body, status: 'online', reason: 'fixed' },
      'operator:alice',
    );
    expect(view.status).toBe('online');
    expect((await deps.sites.history('cern')).map((c) => [c.from, c.to, c.by])).toEqual([
      [undefined, 'online', 'operator'],
      ['online', 'test', 'site-health'],
      ['test', 'online', 'operator:alice'],
    ]);
  });

  it('refuses a test whose task the API would refuse, naming the field, and stores nothing', async () => {
    const deps = inMemoryDeps();
    const test = SiteTestSchema.parse({ payload: { command: 'sh', args: ['-c', 'echo ${nope}'] } });
    const error = await putSite(deps, 'cern', { ...body, test }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues).toEqual([
      { field: 'test.payload.args.1', message: 'unknown placeholder ${nope}' },
    ]);
    expect(await deps.sites.list()).toEqual([]);
    expect(deps.queue.queues.size).toBe(0);
  });
});

describe('getSite', () => {
  it('shows the outcomes since the last status change, the test task with its state, and the history', async () => {
    const deps = inMemoryDeps();
    await putSite(deps, 'cern', body, 'operator:alice');
    const at = DEFAULT_START;
    const entry = (seq: string, kind: 'finished' | 'stageIn') => ({ seq, at, bucket: bucketOf(at), kind });
    await deps.sites.addOutcomes('cern', 'shard-1', [entry('1', 'finished'), entry('2', 'stageIn')], {
      at,
      keepFrom: '2025-12-31T00:00:00.000Z',
    });
    const taskId = await runningTask(deps, generationSpec(1));
    await deps.sites.setTestTask(
      'cern',
      { version: 1, testTask: undefined },
      { taskId, sentAt: at, failures: 0 },
    );

    const detail = await getSite(deps, 'cern');
    expect(detail).toMatchObject({
      siteId: 'cern',
      status: 'online',
      testTask: { taskId, sentAt: at, failures: 0, state: 'running' },
      outcomes: { from: at, attempts: 2, infraFailures: 1 },
      history: [{ at, to: 'online', reason: 'site defined', by: 'operator:alice' }],
    });
    expect(detail.outcomes.counts).toMatchObject({ finished: 1, stageIn: 1, userFailed: 0 });
  });

  it('throws NotFoundError for an unknown site', async () => {
    await expect(getSite(inMemoryDeps(), 'nowhere')).rejects.toBeInstanceOf(NotFoundError);
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
