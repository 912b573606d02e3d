/** An in-memory CatalogStore for unit tests; the contract test runs it beside the DynamoDB store. */
import type { Page, PageRequest } from '#core/api/common.ts';
import {
  type CatalogFile,
  type CatalogFileRecord,
  type Dataset,
  type MetadataFilter,
  matchesFilter,
  RESULTS_ENDPOINT_ID,
  type Replica,
  type ReplicaState,
  type StorageEndpoint,
} from '#core/catalog/catalog.ts';
import { type Did, didText } from '#core/catalog/did.ts';
import type { CatalogStore, RegisterOutcome, ScopeRecord } from '#core/catalog/ports.ts';
import { ConflictError, ValidationError } from '#core/errors.ts';
import type { BucketReader, ListedObject } from '#core/storage/ports.ts';
import { adler32 } from '#pilot/adler32.ts';

type DidItem = { kind: 'file'; record: CatalogFileRecord } | { kind: 'dataset'; record: Dataset };

const clone = <T>(value: T): T => structuredClone(value);

/** Offset-based pages: the token is the index of the next item. */
function pageFrom<T>(all: T[], page: PageRequest): Page<T> {
  const start = page.nextToken === undefined ? 0 : Number(page.nextToken);
  if (!Number.isInteger(start) || start < 0) {
    throw new ValidationError('invalid page token', [
      { field: 'nextToken', message: 'not a token from a previous page' },
    ]);
  }
  const items = all.slice(start, start + page.limit);
  return {
    items,
    ...(items.length === page.limit ? { nextToken: String(start + page.limit) } : {}),
  };
}

export class InMemoryCatalogStore implements CatalogStore {
  readonly resultsBucket: string;
  private readonly scopes = new Map<string, ScopeRecord>();
  private readonly endpoints = new Map<string, StorageEndpoint>();
  private readonly dids = new Map<string, DidItem>();
  private readonly contents = new Map<string, Array<{ file: CatalogFileRecord; seq: number }>>();
  private readonly replicas = new Map<string, Map<string, Replica>>();

  constructor(resultsBucket = 'gluon-test-bucket') {
    this.resultsBucket = resultsBucket;
  }

  private results(): StorageEndpoint {
    return {
      endpointId: RESULTS_ENDPOINT_ID,
      kind: 's3',
      bucket: this.resultsBucket,
      prefix: 'tasks/',
      sites: [],
      readable: true,
      writable: true,
    };
  }

  async getScope(scope: string): Promise<ScopeRecord | undefined> {
    const record = this.scopes.get(scope);
    return record === undefined ? undefined : clone(record);
  }

  async putScope(record: ScopeRecord): Promise<boolean> {
    if (this.scopes.has(record.scope)) return false;
    this.scopes.set(record.scope, clone(record));
    return true;
  }

  async listScopes(): Promise<ScopeRecord[]> {
    return [...this.scopes.values()].sort((a, b) => (a.scope < b.scope ? -1 : 1)).map(clone);
  }

  async putEndpoint(endpoint: StorageEndpoint): Promise<void> {
    if (endpoint.endpointId === RESULTS_ENDPOINT_ID) {
      throw new ValidationError('storage endpoint', [
        {
          field: 'endpointId',
          message: `${RESULTS_ENDPOINT_ID} is the deployment's results bucket; it cannot be redefined`,
        },
      ]);
    }
    this.endpoints.set(endpoint.endpointId, clone(endpoint));
  }

  async getEndpoint(endpointId: string): Promise<StorageEndpoint | undefined> {
    if (endpointId === RESULTS_ENDPOINT_ID) return this.results();
    const endpoint = this.endpoints.get(endpointId);
    return endpoint === undefined ? undefined : clone(endpoint);
  }

  async listEndpoints(): Promise<StorageEndpoint[]> {
    const stored = [...this.endpoints.values()].sort((a, b) => (a.endpointId < b.endpointId ? -1 : 1));
    return [this.results(), ...stored.map(clone)];
  }

  async createDataset(dataset: Dataset): Promise<boolean> {
    const key = didText(dataset);
    if (this.dids.has(key)) return false;
    this.dids.set(key, { kind: 'dataset', record: clone(dataset) });
    this.contents.set(key, []);
    return true;
  }

  async getDataset(did: Did): Promise<Dataset | undefined> {
    const item = this.dids.get(didText(did));
    return item?.kind === 'dataset' ? clone(item.record) : undefined;
  }

  async listDatasets(scope: string, page: PageRequest & { namePrefix?: string }): Promise<Page<Dataset>> {
    const all = [...this.dids.values()]
      .flatMap((item) => (item.kind === 'dataset' ? [item.record] : []))
      .filter((d) => d.scope === scope && d.name.startsWith(page.namePrefix ?? ''))
      .sort((a, b) => (a.name < b.name ? -1 : 1))
      .map(clone);
    return pageFrom(all, page);
  }

  async closeDataset(did: Did, at: string): Promise<boolean> {
    const item = this.dids.get(didText(did));
    if (item?.kind !== 'dataset' || item.record.state !== 'open') return false;
    item.record.state = 'closed';
    item.record.closedAt = at;
    return true;
  }

  async registerFiles(
    files: Array<{ file: CatalogFile; replicas: Replica[] }>,
    options: { dataset?: Did; registeredBy: string; at: string },
  ): Promise<RegisterOutcome> {
    if (files.length > 1000) throw new RangeError('registerFiles: at most 1000 files per batch');
    const conflicts: Extract<RegisterOutcome, { outcome: 'conflict' }>['conflicts'] = [];
    let existing = 0;
    for (const { file } of files) {
      const item = this.dids.get(didText(file));
      if (item === undefined) continue;
      const did = { scope: file.scope, name: file.name };
      if (item.kind !== 'file') conflicts.push({ did, field: 'bytes', registered: 'a dataset of that name' });
      else if (item.record.bytes !== file.bytes) {
        conflicts.push({ did, field: 'bytes', registered: String(item.record.bytes) });
      } else if (item.record.adler32 !== file.adler32) {
        conflicts.push({ did, field: 'adler32', registered: item.record.adler32 });
      } else existing += 1;
    }
    if (conflicts.length > 0) return { outcome: 'conflict', conflicts };
    const dataset = options.dataset === undefined ? undefined : this.dids.get(didText(options.dataset));
    if (options.dataset !== undefined) {
      if (dataset?.kind !== 'dataset')
        throw new ConflictError(`dataset ${didText(options.dataset)} does not exist`);
      if (dataset.record.state !== 'open')
        throw new ConflictError(`dataset ${didText(options.dataset)} is closed`);
    }
    let registered = 0;
    let attached = 0;
    for (const { file, replicas } of files) {
      for (const replica of replicas) await this.putReplica(replica, ['absent']);
      const key = didText(file);
      if (!this.dids.has(key)) {
        const record: CatalogFileRecord = {
          ...clone(file),
          metadata: clone(file.metadata ?? {}),
          registeredBy: options.registeredBy,
          createdAt: options.at,
        };
        this.dids.set(key, { kind: 'file', record });
        registered += 1;
      }
      if (dataset?.kind === 'dataset') {
        const contents = this.contents.get(didText(dataset.record)) ?? [];
        if (contents.some((c) => didText(c.file) === key)) continue;
        const item = this.dids.get(key);
        if (item?.kind !== 'file') continue;
        contents.push({ file: clone(item.record), seq: contents.length });
        this.contents.set(didText(dataset.record), contents);
        dataset.record.files += 1;
        dataset.record.bytes += item.record.bytes;
        dataset.record.events += item.record.events ?? 0;
        attached += 1;
      }
    }
    return { outcome: 'registered', registered, existing, attached };
  }

  async getFile(did: Did): Promise<CatalogFileRecord | undefined> {
    const item = this.dids.get(didText(did));
    return item?.kind === 'file' ? clone(item.record) : undefined;
  }

  async listFiles(
    dataset: Did,
    page: PageRequest,
  ): Promise<Page<CatalogFileRecord & { attachedSeq: number }>> {
    const contents = this.contents.get(didText(dataset)) ?? [];
    return pageFrom(
      contents.map((c) => ({ ...clone(c.file), attachedSeq: c.seq })),
      page,
    );
  }

  async searchFiles(
    scope: string,
    filter: MetadataFilter,
    page: PageRequest,
  ): Promise<Page<CatalogFileRecord>> {
    const all = [...this.dids.values()]
      .flatMap((item) => (item.kind === 'file' ? [item.record] : []))
      .filter((f) => f.scope === scope && matchesFilter(f.metadata, filter))
      .sort((a, b) => (a.name < b.name ? -1 : 1))
      .map(clone);
    return pageFrom(all, page);
  }

  async replicasOf(files: Did[]): Promise<Map<string, Replica[]>> {
    return new Map(
      files.map((f) => [
        didText(f),
        [...(this.replicas.get(didText(f))?.values() ?? [])]
          .sort((a, b) => (a.endpointId < b.endpointId ? -1 : 1))
          .map(clone),
      ]),
    );
  }

  async putReplica(replica: Replica, expect?: Array<ReplicaState | 'absent'>): Promise<boolean> {
    const key = didText(replica);
    const byEndpoint = this.replicas.get(key) ?? new Map<string, Replica>();
    const current = byEndpoint.get(replica.endpointId);
    if (expect !== undefined && !expect.includes(current === undefined ? 'absent' : current.state))
      return false;
    byEndpoint.set(replica.endpointId, clone(replica));
    this.replicas.set(key, byEndpoint);
    return true;
  }
}

/** Buckets as maps of key → bytes, for registrations from a listing. */
export class InMemoryBucketReader implements BucketReader {
  readonly buckets = new Map<string, Map<string, Uint8Array>>();

  put(bucket: string, key: string, body: Uint8Array | string): void {
    const objects = this.buckets.get(bucket) ?? new Map<string, Uint8Array>();
    objects.set(key, typeof body === 'string' ? Buffer.from(body, 'utf8') : body);
    this.buckets.set(bucket, objects);
  }

  async listObjects(
    bucket: string,
    prefix: string,
    max: number,
  ): Promise<{ objects: ListedObject[]; truncated: boolean }> {
    const all = [...(this.buckets.get(bucket) ?? new Map<string, Uint8Array>())]
      .filter(([key]) => key.startsWith(prefix))
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([key, body]) => ({ key, bytes: body.length }));
    return { objects: all.slice(0, max), truncated: all.length > max };
  }

  async checksumObject(bucket: string, key: string): Promise<{ bytes: number; adler32: string } | undefined> {
    const body = this.buckets.get(bucket)?.get(key);
    return body === undefined ? undefined : { bytes: body.length, adler32: adler32(body) };
  }
}
