/**
 * The catalog-api function: one handler for every catalog operation, dispatching on the route.
 * Bad input names its field and writes nothing; writes outside the caller's scopes are refused.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBucket } from '#adapters/s3/s3-object-store.ts';
import { OPERATIONS, type OperationId } from '#core/api/operations.ts';
import { createHandler } from '#lambdas/catalog/catalog-api/handler.ts';
import { adler32 } from '#pilot/adler32.ts';
import {
  createHandlerHarness,
  type HandlerHarness,
  httpEvent,
  invokeHttp,
  issueFields,
} from '#test/support/handler-harness.ts';
import { type InMemoryDeps, inMemoryDeps, siteOf } from '#test/support/in-memory-ports.ts';

const USER = ['compute.create', 'compute.read'];
const ADMIN = ['gluon.admin'];

type Deps = Parameters<typeof createHandler>[0];

function call(
  deps: Deps,
  id: OperationId,
  input: {
    params?: Record<string, string>;
    query?: Record<string, string>;
    body?: unknown;
    sub?: string;
    scopes?: string[];
  } = {},
) {
  const op = OPERATIONS[id];
  return invokeHttp<Record<string, unknown>>(
    createHandler(deps),
    httpEvent({
      method: op.method,
      path: op.path,
      ...(input.params === undefined ? {} : { pathParameters: input.params }),
      ...(input.query === undefined ? {} : { query: input.query }),
      ...(input.body === undefined ? {} : { body: input.body }),
      sub: input.sub ?? 'alice',
      scopes: input.scopes ?? USER,
    }),
  );
}

function errorMessage(body: unknown): string {
  return (body as { error: { message: string } }).error.message;
}

async function withEndpoint(): Promise<InMemoryDeps> {
  const deps = inMemoryDeps();
  await deps.sites.put(siteOf({ siteId: 'cern' }));
  const put = await call(deps, 'putEndpoint', {
    params: { endpointId: 'DATA-A' },
    body: { kind: 's3', bucket: 'data-a', prefix: 'mc/', sites: ['cern'] },
    scopes: ADMIN,
  });
  expect(put.statusCode).toBe(200);
  return deps;
}

const FILE = { name: 'zmumu.0001.root', bytes: 10, adler32: '0a1b2c3d', events: 100 };

describe('catalog-api: routes', () => {
  it('answers 404 for a route it does not serve', async () => {
    const reply = await invokeHttp(
      createHandler(inMemoryDeps()),
      httpEvent({ method: 'GET', path: '/catalog/nothing', scopes: USER }),
    );
    expect(reply.statusCode).toBe(404);
  });
});

describe('catalog-api: endpoints', () => {
  it('validates an endpoint, naming each field, and stores nothing', async () => {
    const deps = inMemoryDeps();
    const cases: Array<[unknown, string[]]> = [
      [{ kind: 's3' }, ['bucket']],
      [{ kind: 'url', bucket: 'data-a' }, ['bucket', 'urlRoot']],
      [{ kind: 's3', bucket: 'data-a', sites: ['nowhere'] }, ['sites']],
      [{ kind: 's3', bucket: 'Bad_Bucket' }, ['bucket']],
      [{ kind: 's3', bucket: 'data-a', prefix: 'no-slash' }, ['prefix']],
    ];
    for (const [body, fields] of cases) {
      const reply = await call(deps, 'putEndpoint', {
        params: { endpointId: 'DATA-A' },
        body,
        scopes: ADMIN,
      });
      expect(reply.statusCode, JSON.stringify(body)).toBe(400);
      expect(issueFields(reply.body)).toEqual(fields);
    }
    const results = await call(deps, 'putEndpoint', {
      params: { endpointId: 'GLUON-RESULTS' },
      body: { kind: 's3', bucket: 'elsewhere' },
      scopes: ADMIN,
    });
    expect(results.statusCode).toBe(400);
    expect(issueFields(results.body)).toEqual(['endpointId']);
    const listed = await call(deps, 'listEndpoints');
    expect((listed.body.items as Array<{ endpointId: string }>).map((e) => e.endpointId)).toEqual([
      'GLUON-RESULTS',
    ]);
  });

  it('lists the results endpoint first, close to every site', async () => {
    const deps = await withEndpoint();
    const listed = await call(deps, 'listEndpoints');
    expect(listed.body.items).toEqual([
      expect.objectContaining({ endpointId: 'GLUON-RESULTS', bucket: 'gluon-test-bucket', prefix: 'tasks/' }),
      expect.objectContaining({ endpointId: 'DATA-A', bucket: 'data-a', sites: ['cern'] }),
    ]);
  });
});

describe('catalog-api: scopes and datasets', () => {
  it("creates a dataset in the caller's scope; another scope is 403 naming the field, nothing written", async () => {
    const deps = inMemoryDeps();
    const mine = await call(deps, 'createDataset', { body: { dataset: 'user.alice:zmumu' } });
    expect(mine.statusCode).toBe(201);
    expect(mine.body).toMatchObject({ did: 'user.alice:zmumu', state: 'open', owner: 'alice', files: 0 });
    const again = await call(deps, 'createDataset', { body: { dataset: 'user.alice:zmumu' } });
    expect(again.statusCode).toBe(409);
    const theirs = await call(deps, 'createDataset', { body: { dataset: 'user.bob:zmumu' } });
    expect(theirs.statusCode).toBe(403);
    expect(errorMessage(theirs.body)).toMatch(/^dataset: /);
    expect(await deps.catalog.getDataset({ scope: 'user.bob', name: 'zmumu' })).toBeUndefined();
    const group = await call(deps, 'createDataset', { body: { dataset: 'group.higgs:h4l' } });
    expect(group.statusCode).toBe(403);
  });

  it('lets owners of an operator-made scope write in it', async () => {
    const deps = inMemoryDeps();
    const refused = await call(deps, 'createScope', { body: { scope: 'group.higgs', owners: ['alice'] } });
    expect(refused.statusCode).toBe(403);
    const made = await call(deps, 'createScope', {
      body: { scope: 'group.higgs', owners: ['alice'] },
      scopes: ADMIN,
      sub: 'operator',
    });
    expect(made.statusCode).toBe(201);
    const twice = await call(deps, 'createScope', {
      body: { scope: 'group.higgs', owners: ['bob'] },
      scopes: ADMIN,
      sub: 'operator',
    });
    expect(twice.statusCode).toBe(409);
    const userScope = await call(deps, 'createScope', {
      body: { scope: 'user.carol', owners: ['carol'] },
      scopes: ADMIN,
    });
    expect(userScope.statusCode).toBe(400);
    expect(issueFields(userScope.body)).toEqual(['scope']);
    expect((await call(deps, 'createDataset', { body: { dataset: 'group.higgs:h4l' } })).statusCode).toBe(
      201,
    );
    expect(
      (await call(deps, 'createDataset', { body: { dataset: 'group.higgs:h4l-bob' }, sub: 'bob' }))
        .statusCode,
    ).toBe(403);
    const listed = await call(deps, 'listScopes', { sub: 'bob' });
    expect(listed.body).toEqual({
      own: 'user.bob',
      items: [expect.objectContaining({ scope: 'group.higgs', owners: ['alice'] })],
    });
  });

  it('names bad DIDs and queries', async () => {
    const deps = inMemoryDeps();
    const noColon = await call(deps, 'createDataset', { body: { dataset: 'zmumu' } });
    expect(noColon.statusCode).toBe(400);
    expect(issueFields(noColon.body)).toEqual(['dataset']);
    const badPath = await call(deps, 'getDataset', { params: { did: 'user.alice:../x' } });
    expect(badPath.statusCode).toBe(400);
    expect(issueFields(badPath.body)).toEqual(['path.did']);
    const noScope = await call(deps, 'listDatasets', { query: {} });
    expect(noScope.statusCode).toBe(400);
    expect(issueFields(noScope.body)).toEqual(['query.scope']);
    const unknownParam = await call(deps, 'searchFiles', { query: { scope: 'user.alice', runNumber: '1' } });
    expect(unknownParam.statusCode).toBe(400);
    expect(issueFields(unknownParam.body)).toEqual(['query.runNumber']);
    const missing = await call(deps, 'getDataset', { params: { did: 'user.alice:none' } });
    expect(missing.statusCode).toBe(404);
  });

  it('closes a dataset once (the owner of the scope only); a closed dataset takes no file', async () => {
    const deps = await withEndpoint();
    await call(deps, 'createDataset', { body: { dataset: 'user.alice:ds' } });
    const byBob = await call(deps, 'closeDataset', { params: { did: 'user.alice:ds' }, sub: 'bob' });
    expect(byBob.statusCode).toBe(403);
    const closed = await call(deps, 'closeDataset', { params: { did: 'user.alice:ds' } });
    expect(closed.statusCode).toBe(200);
    expect(closed.body).toMatchObject({ state: 'closed' });
    expect((await call(deps, 'closeDataset', { params: { did: 'user.alice:ds' } })).body).toMatchObject({
      state: 'closed',
    });
    const late = await call(deps, 'registerFiles', {
      body: { dataset: 'user.alice:ds', endpoint: 'DATA-A', files: [FILE] },
    });
    expect(late.statusCode).toBe(409);
    expect(await deps.catalog.getFile({ scope: 'user.alice', name: FILE.name })).toBeUndefined();
  });
});

describe('catalog-api: files', () => {
  it('registers a manifest, shows the files with replicas, and replays it as a no-op', async () => {
    const deps = await withEndpoint();
    await call(deps, 'createDataset', { body: { dataset: 'user.alice:ds' } });
    const body = {
      dataset: 'user.alice:ds',
      endpoint: 'DATA-A',
      files: [
        { ...FILE, metadata: { runNumber: 358031 } },
        { name: 'zmumu.0002.root', bytes: 20, adler32: '0000ffff', key: 'run1/two.root' },
      ],
    };
    const first = await call(deps, 'registerFiles', { body });
    expect(first.statusCode).toBe(200);
    expect(first.body).toMatchObject({ registered: 2, existing: 0, attached: 2 });
    const replay = await call(deps, 'registerFiles', { body });
    expect(replay.body).toMatchObject({ registered: 0, existing: 2, attached: 0 });
    const shown = await call(deps, 'getDataset', { params: { did: 'user.alice:ds' } });
    expect(shown.body).toMatchObject({ files: 2, bytes: 30, events: 100 });
    const files = await call(deps, 'listDatasetFiles', { params: { did: 'user.alice:ds' } });
    expect(files.body.items).toEqual([
      expect.objectContaining({
        did: 'user.alice:zmumu.0001.root',
        attachedSeq: 0,
        replicas: [expect.objectContaining({ endpointId: 'DATA-A', url: 's3://data-a/mc/zmumu.0001.root' })],
      }),
      expect.objectContaining({
        did: 'user.alice:zmumu.0002.root',
        attachedSeq: 1,
        replicas: [expect.objectContaining({ url: 's3://data-a/mc/run1/two.root' })],
      }),
    ]);
    const found = await call(deps, 'searchFiles', {
      query: { scope: 'user.alice', 'meta.runNumber': '358031' },
    });
    expect((found.body.items as Array<{ did: string }>).map((f) => f.did)).toEqual([
      'user.alice:zmumu.0001.root',
    ]);
    const file = await call(deps, 'getFile', { params: { did: 'user.alice:zmumu.0002.root' } });
    expect(file.body).toMatchObject({ bytes: 20, adler32: '0000ffff', registeredBy: 'alice' });
  });

  it('refuses a conflicting checksum with 409 naming files[i].adler32, writing nothing of the batch', async () => {
    const deps = await withEndpoint();
    await call(deps, 'createDataset', { body: { dataset: 'user.alice:ds' } });
    await call(deps, 'registerFiles', {
      body: { dataset: 'user.alice:ds', endpoint: 'DATA-A', files: [FILE] },
    });
    const conflict = await call(deps, 'registerFiles', {
      body: {
        dataset: 'user.alice:ds',
        endpoint: 'DATA-A',
        files: [
          { name: 'new.root', bytes: 1, adler32: '00000001' },
          { ...FILE, adler32: 'ffffffff' },
        ],
      },
    });
    expect(conflict.statusCode).toBe(409);
    expect(errorMessage(conflict.body)).toContain('files[1].adler32');
    expect(await deps.catalog.getFile({ scope: 'user.alice', name: 'new.root' })).toBeUndefined();
    expect((await call(deps, 'getDataset', { params: { did: 'user.alice:ds' } })).body).toMatchObject({
      files: 1,
    });
    expect((await call(deps, 'getFile', { params: { did: `user.alice:${FILE.name}` } })).body).toMatchObject({
      adler32: FILE.adler32,
    });
  });

  it('names bad manifests and writes nothing', async () => {
    const deps = await withEndpoint();
    await call(deps, 'createDataset', { body: { dataset: 'user.alice:ds' } });
    const cases: Array<[Record<string, unknown>, string[]]> = [
      [{ files: [{ ...FILE, adler32: 'XYZ' }] }, ['files.0.adler32']],
      [{ files: [{ ...FILE, bytes: -1 }] }, ['files.0.bytes']],
      [{ files: [{ ...FILE, name: '../etc' }] }, ['files.0.name']],
      [{ files: [] }, ['files']],
      [{}, ['files']],
      [{ files: Array.from({ length: 1001 }, (_, i) => ({ ...FILE, name: `f${i}` })) }, ['files']],
      [{ files: [FILE, FILE] }, ['files[1].name']],
      [{ files: [{ ...FILE, url: 'root://eos.example.org//eos/f' }] }, ['files[0].url']],
      [{ files: [FILE], endpoint: 'NOWHERE' }, ['endpoint']],
    ];
    for (const [extra, fields] of cases) {
      const reply = await call(deps, 'registerFiles', {
        body: { dataset: 'user.alice:ds', endpoint: 'DATA-A', ...extra },
      });
      expect(reply.statusCode, JSON.stringify(fields)).toBe(400);
      expect(issueFields(reply.body)).toEqual(fields);
    }
    expect((await call(deps, 'getDataset', { params: { did: 'user.alice:ds' } })).body).toMatchObject({
      files: 0,
    });
  });

  it("refuses a dataset outside the caller's scopes with 403 naming it", async () => {
    const deps = await withEndpoint();
    await call(deps, 'createDataset', { body: { dataset: 'user.bob:ds' }, sub: 'bob' });
    const reply = await call(deps, 'registerFiles', {
      body: { dataset: 'user.bob:ds', endpoint: 'DATA-A', files: [FILE] },
    });
    expect(reply.statusCode).toBe(403);
    expect(errorMessage(reply.body)).toMatch(/^dataset: /);
    expect(await deps.catalog.getFile({ scope: 'user.bob', name: FILE.name })).toBeUndefined();
  });
});

describe('catalog-api: registration from a bucket listing (S3 stand-in)', () => {
  let harness: HandlerHarness;
  const dataBucket = `it-catalog-data-${Date.now().toString(36)}`;
  const objects: Record<string, string> = {
    'mc/run358031/a.root': 'first file of the run',
    'mc/run358031/b.root': 'second file, a little longer than the first',
    'mc/other/c.root': 'not under the prefix',
  };

  beforeAll(async () => {
    harness = await createHandlerHarness();
    await ensureBucket(harness.s3, dataBucket);
    for (const [Key, Body] of Object.entries(objects)) {
      await harness.s3.send(new PutObjectCommand({ Bucket: dataBucket, Key, Body }));
    }
    await harness.addSite({ siteId: 'cern' });
  });
  afterAll(async () => harness?.close());

  it('lists the prefix, reads each object for its adler32 and registers it with its replica', async () => {
    const put = await call(harness.deps, 'putEndpoint', {
      params: { endpointId: 'DATA-A' },
      body: { kind: 's3', bucket: dataBucket, prefix: 'mc/', sites: ['cern'] },
      scopes: ADMIN,
    });
    expect(put.statusCode, JSON.stringify(put.body)).toBe(200);
    await call(harness.deps, 'createDataset', { body: { dataset: 'user.alice:run358031' } });
    const body = {
      dataset: 'user.alice:run358031',
      endpoint: 'DATA-A',
      fromListing: { prefix: 'run358031/', events: 50, metadata: { runNumber: 358031 } },
    };
    const reply = await call(harness.deps, 'registerFiles', { body });
    expect(reply.statusCode, JSON.stringify(reply.body)).toBe(200);
    expect(reply.body).toMatchObject({ registered: 2, attached: 2 });
    const files = await call(harness.deps, 'listDatasetFiles', { params: { did: 'user.alice:run358031' } });
    const items = files.body.items as Array<Record<string, unknown>>;
    expect(items.map((f) => [f.name, f.bytes, f.adler32, f.events])).toEqual([
      [
        'run358031.a.root',
        objects['mc/run358031/a.root']?.length,
        adler32(objects['mc/run358031/a.root'] ?? ''),
        50,
      ],
      [
        'run358031.b.root',
        objects['mc/run358031/b.root']?.length,
        adler32(objects['mc/run358031/b.root'] ?? ''),
        50,
      ],
    ]);
    expect(items[0]?.replicas).toEqual([
      expect.objectContaining({ endpointId: 'DATA-A', url: `s3://${dataBucket}/mc/run358031/a.root` }),
    ]);
    // Again: nothing new (the same checksums).
    const again = await call(harness.deps, 'registerFiles', { body });
    expect(again.body).toMatchObject({ registered: 0, existing: 2, attached: 0 });
    // An object changed under a registered name: 409, nothing written.
    await harness.s3.send(
      new PutObjectCommand({ Bucket: dataBucket, Key: 'mc/run358031/b.root', Body: 'changed' }),
    );
    const changed = await call(harness.deps, 'registerFiles', { body });
    expect(changed.statusCode).toBe(409);
    expect(errorMessage(changed.body)).toContain('fromListing[1].');
    const empty = await call(harness.deps, 'registerFiles', {
      body: { ...body, fromListing: { prefix: 'nothing-here/' } },
    });
    expect(empty.statusCode).toBe(400);
    expect(issueFields(empty.body)).toEqual(['fromListing.prefix']);
  });
});
