import { adler32 } from '#pilot/adler32.ts';
import { type InMemoryDeps, inMemoryDeps } from '#test/support/in-memory-ports.ts';

export const ALICE = { sub: 'alice', scopes: ['compute.create', 'compute.read'] };
export const BOB = { sub: 'bob', scopes: ['compute.create', 'compute.read'] };
export const ADMIN = { sub: 'ops', scopes: ['gluon.admin'] };
export const SCOPE = 'user.alice';
export const DATASET = `${SCOPE}:zmumu.gen`;

/**
 * A catalog with three endpoints (A, B and C, each its own bucket) and a dataset of `files` files,
 * each with an available replica at A (whose bytes the copier holds).
 */
export async function catalogWithDataset(
  files = 2,
): Promise<{ deps: InMemoryDeps; contents: Map<string, string> }> {
  const deps = inMemoryDeps({ start: '2026-12-02T10:00:00Z' });
  for (const id of ['DATA-A', 'DATA-B', 'DATA-C']) {
    await deps.catalog.putEndpoint({
      endpointId: id,
      kind: 's3',
      bucket: `bucket-${id.slice(-1).toLowerCase()}`,
      prefix: 'rucio/',
      sites: [],
      readable: true,
      writable: true,
    });
  }
  await deps.catalog.putEndpoint({
    endpointId: 'TAPE',
    kind: 's3',
    bucket: 'bucket-tape',
    prefix: '',
    sites: [],
    readable: true,
    writable: false,
  });
  await deps.catalog.createDataset({
    scope: SCOPE,
    name: 'zmumu.gen',
    state: 'open',
    owner: 'alice',
    files: 0,
    bytes: 0,
    events: 0,
    metadata: {},
    createdAt: '2026-12-02T09:00:00Z',
  });
  const contents = new Map<string, string>();
  const entries = [];
  for (let i = 0; i < files; i++) {
    const name = `gen._00000${i}.root`;
    const text = `events of file ${i}\n`.repeat(i + 3);
    contents.set(name, text);
    deps.copier.put({ bucket: 'bucket-a', key: `rucio/${SCOPE}/${name}` }, text);
    entries.push({
      file: { scope: SCOPE, name, bytes: Buffer.byteLength(text), adler32: adler32(text), metadata: {} },
      replicas: [
        {
          scope: SCOPE,
          name,
          endpointId: 'DATA-A',
          state: 'available' as const,
          url: `s3://bucket-a/rucio/${SCOPE}/${name}`,
          updatedAt: '2026-12-02T09:00:00Z',
        },
      ],
    });
  }
  const outcome = await deps.catalog.registerFiles(entries, {
    dataset: { scope: SCOPE, name: 'zmumu.gen' },
    registeredBy: 'alice',
    at: '2026-12-02T09:00:00Z',
  });
  if (outcome.outcome !== 'registered') throw new Error('fixture: files not registered');
  return { deps, contents };
}
