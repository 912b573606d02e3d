/**
 * The CatalogStore contract (core/catalog/ports.ts), run against the in-memory fake and the
 * DynamoDB adapter.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { CatalogFile, Dataset, Replica } from '#core/catalog/catalog.ts';
import type { Did } from '#core/catalog/did.ts';
import type { CatalogStore } from '#core/catalog/ports.ts';
import { ConflictError, ValidationError } from '#core/errors.ts';

const AT = '2026-01-01T00:00:00.000Z';
let n = 0;

/** A scope of its own per test, so tests never see each other's items. */
function freshScope(): string {
  n += 1;
  return `user.contract${n}`;
}

function dataset(scope: string, name: string, overrides: Partial<Dataset> = {}): Dataset {
  return {
    scope,
    name,
    state: 'open',
    owner: 'alice',
    files: 0,
    bytes: 0,
    events: 0,
    metadata: {},
    createdAt: AT,
    ...overrides,
  };
}

function file(scope: string, name: string, overrides: Partial<CatalogFile> = {}): CatalogFile {
  return { scope, name, bytes: 100, adler32: '0000abcd', events: 10, metadata: {}, ...overrides };
}

function replica(f: Did, endpointId = 'DATA-A', overrides: Partial<Replica> = {}): Replica {
  return {
    scope: f.scope,
    name: f.name,
    endpointId,
    state: 'available',
    url: `s3://data-a/${f.name}`,
    updatedAt: AT,
    ...overrides,
  };
}

function withReplica(f: CatalogFile): { file: CatalogFile; replicas: Replica[] } {
  return { file: f, replicas: [replica(f)] };
}

export function describeCatalogStoreContract(
  name: string,
  makeStore: () => Promise<CatalogStore>,
  resultsBucket: string,
): void {
  describe(`${name} (CatalogStore contract)`, () => {
    let store: CatalogStore;
    beforeAll(async () => {
      store = await makeStore();
    });

    it('keeps a name unique in its scope across files and datasets', async () => {
      const scope = freshScope();
      expect(await store.createDataset(dataset(scope, 'ds'))).toBe(true);
      expect(await store.createDataset(dataset(scope, 'ds'))).toBe(false);
      // A file may not take a dataset's name (a conflict, nothing written)…
      const clash = await store.registerFiles([withReplica(file(scope, 'ds'))], {
        registeredBy: 'alice',
        at: AT,
      });
      expect(clash.outcome).toBe('conflict');
      expect(await store.getFile({ scope, name: 'ds' })).toBeUndefined();
      // …nor a dataset a file's.
      await store.registerFiles([withReplica(file(scope, 'f1'))], { registeredBy: 'alice', at: AT });
      expect(await store.createDataset(dataset(scope, 'f1'))).toBe(false);
      expect(await store.getDataset({ scope, name: 'f1' })).toBeUndefined();
      expect(await store.getFile({ scope, name: 'f1' })).toEqual({
        ...file(scope, 'f1'),
        registeredBy: 'alice',
        createdAt: AT,
      });
      expect(await store.getDataset({ scope, name: 'ds' })).toEqual(dataset(scope, 'ds'));
      // The same name in another scope is another DID.
      expect(await store.createDataset(dataset(freshScope(), 'ds'))).toBe(true);
    });

    it('refuses a whole batch when one file conflicts on checksum or size, writing nothing', async () => {
      const scope = freshScope();
      await store.createDataset(dataset(scope, 'ds'));
      const ds = { scope, name: 'ds' };
      await store.registerFiles([withReplica(file(scope, 'a'))], {
        dataset: ds,
        registeredBy: 'alice',
        at: AT,
      });
      const outcome = await store.registerFiles(
        [withReplica(file(scope, 'new')), withReplica(file(scope, 'a', { adler32: 'ffffffff' }))],
        { dataset: ds, registeredBy: 'bob', at: AT },
      );
      expect(outcome).toEqual({
        outcome: 'conflict',
        conflicts: [{ did: { scope, name: 'a' }, field: 'adler32', registered: '0000abcd' }],
      });
      const bytes = await store.registerFiles([withReplica(file(scope, 'a', { bytes: 7 }))], {
        registeredBy: 'bob',
        at: AT,
      });
      expect(bytes).toMatchObject({
        outcome: 'conflict',
        conflicts: [{ field: 'bytes', registered: '100' }],
      });
      expect(await store.getFile({ scope, name: 'new' })).toBeUndefined();
      expect((await store.replicasOf([{ scope, name: 'new' }])).get(`${scope}:new`)).toEqual([]);
      expect(await store.getFile({ scope, name: 'a' })).toMatchObject({
        adler32: '0000abcd',
        registeredBy: 'alice',
      });
      expect(await store.getDataset(ds)).toMatchObject({ files: 1, bytes: 100, events: 10 });
    });

    it('registers a replayed batch once: attached once, totals added once', async () => {
      const scope = freshScope();
      await store.createDataset(dataset(scope, 'ds'));
      const ds = { scope, name: 'ds' };
      const batch = [1, 2, 3].map((i) => withReplica(file(scope, `f${i}`, { bytes: i * 10, events: i })));
      expect(await store.registerFiles(batch, { dataset: ds, registeredBy: 'alice', at: AT })).toEqual({
        outcome: 'registered',
        registered: 3,
        existing: 0,
        attached: 3,
      });
      expect(await store.registerFiles(batch, { dataset: ds, registeredBy: 'alice', at: AT })).toEqual({
        outcome: 'registered',
        registered: 0,
        existing: 3,
        attached: 0,
      });
      expect(await store.getDataset(ds)).toMatchObject({ files: 3, bytes: 60, events: 6, state: 'open' });
      const page = await store.listFiles(ds, { limit: 10 });
      expect(page.items.map((f) => f.name)).toEqual(['f1', 'f2', 'f3']);
    });

    it('attaches files registered before (no dataset) without registering them again', async () => {
      const scope = freshScope();
      await store.createDataset(dataset(scope, 'ds'));
      const ds = { scope, name: 'ds' };
      await store.registerFiles([withReplica(file(scope, 'loose'))], { registeredBy: 'alice', at: AT });
      expect(
        await store.registerFiles([withReplica(file(scope, 'loose'))], {
          dataset: ds,
          registeredBy: 'bob',
          at: AT,
        }),
      ).toEqual({ outcome: 'registered', registered: 0, existing: 1, attached: 1 });
      expect(await store.getFile({ scope, name: 'loose' })).toMatchObject({ registeredBy: 'alice' });
      expect(await store.getDataset(ds)).toMatchObject({ files: 1 });
    });

    it('closes a dataset once; a closed dataset refuses files and writes nothing', async () => {
      const scope = freshScope();
      await store.createDataset(dataset(scope, 'ds', { taskId: 't-000001' }));
      const ds = { scope, name: 'ds' };
      expect(await store.closeDataset(ds, '2026-01-02T00:00:00.000Z')).toBe(true);
      expect(await store.closeDataset(ds, '2026-01-03T00:00:00.000Z')).toBe(false);
      expect(await store.closeDataset({ scope, name: 'absent' }, AT)).toBe(false);
      expect(await store.getDataset(ds)).toMatchObject({
        state: 'closed',
        closedAt: '2026-01-02T00:00:00.000Z',
        taskId: 't-000001',
      });
      await expect(
        store.registerFiles([withReplica(file(scope, 'late'))], {
          dataset: ds,
          registeredBy: 'alice',
          at: AT,
        }),
      ).rejects.toBeInstanceOf(ConflictError);
      expect(await store.getFile({ scope, name: 'late' })).toBeUndefined();
      expect(await store.getDataset(ds)).toMatchObject({ files: 0 });
      await expect(
        store.registerFiles([withReplica(file(scope, 'x'))], {
          dataset: { scope, name: 'absent' },
          registeredBy: 'alice',
          at: AT,
        }),
      ).rejects.toBeInstanceOf(ConflictError);
    });

    it('lists a dataset in attach order, page by page, new files last', async () => {
      const scope = freshScope();
      await store.createDataset(dataset(scope, 'ds'));
      const ds = { scope, name: 'ds' };
      // Names that do not sort in attach order.
      const names = ['z9', 'a1', 'm5', 'b2', 'y8', 'c3', 'x7'];
      await store.registerFiles(
        names.slice(0, 4).map((name) => withReplica(file(scope, name))),
        { dataset: ds, registeredBy: 'alice', at: AT },
      );
      await store.registerFiles(
        names.slice(4).map((name) => withReplica(file(scope, name))),
        { dataset: ds, registeredBy: 'alice', at: AT },
      );
      const seen: string[] = [];
      const seqs: number[] = [];
      let nextToken: string | undefined;
      let pages = 0;
      do {
        const page = await store.listFiles(ds, {
          limit: 3,
          ...(nextToken === undefined ? {} : { nextToken }),
        });
        seen.push(...page.items.map((f) => f.name));
        seqs.push(...page.items.map((f) => f.attachedSeq));
        nextToken = page.nextToken;
        pages += 1;
      } while (nextToken !== undefined && pages < 10);
      expect(seen).toEqual(names);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(new Set(seqs).size).toBe(names.length);
      expect(await store.getDataset(ds)).toMatchObject({ files: 7, bytes: 700 });
    });

    it('keeps every replica of a file, one query, and writes one conditionally', async () => {
      const scope = freshScope();
      const f = file(scope, 'r');
      await store.registerFiles(
        [{ file: f, replicas: [replica(f, 'DATA-A'), replica(f, 'DATA-B', { state: 'copying' })] }],
        { registeredBy: 'alice', at: AT },
      );
      const replicas = (await store.replicasOf([f, { scope, name: 'none' }])).get(`${scope}:r`) ?? [];
      expect(replicas.map((r) => [r.endpointId, r.state]).sort()).toEqual([
        ['DATA-A', 'available'],
        ['DATA-B', 'copying'],
      ]);
      expect((await store.replicasOf([{ scope, name: 'none' }])).get(`${scope}:none`)).toEqual([]);
      // A replay of the registration does not reset a replica's state.
      expect(
        await store.putReplica(replica(f, 'DATA-A', { state: 'corrupt', reason: 'adler32 mismatch' })),
      ).toBe(true);
      await store.registerFiles([{ file: f, replicas: [replica(f, 'DATA-A')] }], {
        registeredBy: 'alice',
        at: AT,
      });
      const after = (await store.replicasOf([f])).get(`${scope}:r`) ?? [];
      expect(after.find((r) => r.endpointId === 'DATA-A')).toMatchObject({
        state: 'corrupt',
        reason: 'adler32 mismatch',
      });
      // Conditional writes: copying → available only from copying; absent only when absent.
      expect(await store.putReplica(replica(f, 'DATA-B'), ['copying'])).toBe(true);
      expect(await store.putReplica(replica(f, 'DATA-B', { state: 'copying' }), ['copying'])).toBe(false);
      expect(await store.putReplica(replica(f, 'DATA-B'), ['absent'])).toBe(false);
      expect(await store.putReplica(replica(f, 'DATA-C'), ['absent'])).toBe(true);
      expect(await store.putReplica(replica(f, 'DATA-D'), ['absent', 'copying'])).toBe(true);
      expect(((await store.replicasOf([f])).get(`${scope}:r`) ?? []).length).toBe(4);
    });

    it('searches a scope by metadata (numbers as numbers), page by page', async () => {
      const scope = freshScope();
      await store.createDataset(dataset(scope, 'ds-not-a-file'));
      await store.registerFiles(
        [
          withReplica(file(scope, 'aod-1', { metadata: { runNumber: 358031, dataType: 'AOD' } })),
          withReplica(file(scope, 'aod-2', { metadata: { runNumber: 358031, dataType: 'AOD' } })),
          withReplica(file(scope, 'esd-1', { metadata: { runNumber: 358031, dataType: 'ESD' } })),
          withReplica(file(scope, 'aod-3', { metadata: { runNumber: 358032, dataType: 'AOD' } })),
          withReplica(file(scope, 'str', { metadata: { runNumber: '358031' } })),
        ],
        { registeredBy: 'alice', at: AT },
      );
      const all = async (filter: Record<string, string | number>): Promise<string[]> => {
        const names: string[] = [];
        let nextToken: string | undefined;
        for (let i = 0; i < 20; i++) {
          const page = await store.searchFiles(scope, filter, {
            limit: 2,
            ...(nextToken === undefined ? {} : { nextToken }),
          });
          names.push(...page.items.map((f) => f.name));
          nextToken = page.nextToken;
          if (nextToken === undefined) break;
        }
        return names.sort();
      };
      expect(await all({ runNumber: 358031, dataType: 'AOD' })).toEqual(['aod-1', 'aod-2']);
      expect(await all({ runNumber: 358031 })).toEqual(['aod-1', 'aod-2', 'esd-1']);
      expect(await all({ runNumber: '358031' })).toEqual(['str']);
      expect(await all({})).toEqual(['aod-1', 'aod-2', 'aod-3', 'esd-1', 'str']);
      expect(await all({ dataType: 'RAW' })).toEqual([]);
      expect((await store.searchFiles(freshScope(), {}, { limit: 10 })).items).toEqual([]);
    });

    it('lists datasets of a scope by name, from a prefix, page by page', async () => {
      const scope = freshScope();
      for (const name of ['mc.b', 'mc.a', 'data.a', 'mc.c']) await store.createDataset(dataset(scope, name));
      await store.registerFiles([withReplica(file(scope, 'mc.file'))], { registeredBy: 'alice', at: AT });
      const names: string[] = [];
      let nextToken: string | undefined;
      for (let i = 0; i < 10; i++) {
        const page = await store.listDatasets(scope, {
          limit: 2,
          namePrefix: 'mc.',
          ...(nextToken === undefined ? {} : { nextToken }),
        });
        names.push(...page.items.map((d) => d.name));
        nextToken = page.nextToken;
        if (nextToken === undefined) break;
      }
      expect(names).toEqual(['mc.a', 'mc.b', 'mc.c']);
      const every = await store.listDatasets(scope, { limit: 100 });
      expect(every.items.map((d) => d.name)).toEqual(['data.a', 'mc.a', 'mc.b', 'mc.c']);
      expect(every.items[0]).toMatchObject({ state: 'open', owner: 'alice', files: 0 });
    });

    it('makes scopes once and lists them', async () => {
      const scope = `group.${freshScope().slice(5)}`;
      expect(await store.putScope({ scope, owners: ['alice'], createdAt: AT })).toBe(true);
      expect(await store.putScope({ scope, owners: ['bob'], createdAt: AT })).toBe(false);
      expect(await store.getScope(scope)).toEqual({ scope, owners: ['alice'], createdAt: AT });
      expect(await store.getScope('group.none')).toBeUndefined();
      expect((await store.listScopes()).map((s) => s.scope)).toContain(scope);
    });

    it('stores endpoints, and makes the results endpoint that cannot be redefined', async () => {
      await store.putEndpoint({
        endpointId: 'DATA-A',
        kind: 's3',
        bucket: 'data-a',
        prefix: 'mc/',
        sites: ['cern'],
        readable: true,
        writable: false,
      });
      expect(await store.getEndpoint('DATA-A')).toEqual({
        endpointId: 'DATA-A',
        kind: 's3',
        bucket: 'data-a',
        prefix: 'mc/',
        sites: ['cern'],
        readable: true,
        writable: false,
      });
      expect(await store.getEndpoint('NONE')).toBeUndefined();
      const results = await store.getEndpoint('GLUON-RESULTS');
      expect(results).toEqual({
        endpointId: 'GLUON-RESULTS',
        kind: 's3',
        bucket: resultsBucket,
        prefix: 'tasks/',
        sites: [],
        readable: true,
        writable: true,
      });
      const listed = await store.listEndpoints();
      expect(listed.map((e) => e.endpointId)).toEqual(expect.arrayContaining(['GLUON-RESULTS', 'DATA-A']));
      const error = await store
        .putEndpoint({ ...(results as NonNullable<typeof results>), bucket: 'elsewhere' })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).issues[0]?.field).toBe('endpointId');
      expect((await store.getEndpoint('GLUON-RESULTS'))?.bucket).toBe(resultsBucket);
    });
  });
}
