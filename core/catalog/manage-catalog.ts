/**
 * The catalog's use cases behind the API: endpoints, datasets, files. Reads are open to every
 * user (as in Rucio); writes go to the caller's scopes only (scopes.ts), operators anywhere.
 */
import type { Page, PageRequest } from '../api/common.ts';
import type { Deps, Principal } from '../deps.ts';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import {
  type CatalogFileRecord,
  type Dataset,
  type Metadata,
  type MetadataFilter,
  RESULTS_ENDPOINT_ID,
  type Replica,
  type StorageEndpoint,
} from './catalog.ts';
import { didText, parseDid } from './did.ts';
import { assertMayWrite, writerOf } from './scopes.ts';

type CatalogDeps = Pick<Deps, 'catalog' | 'clock'>;

/** Defines or updates an endpoint (operators): s3 needs a bucket, url a URL root; its sites must exist. */
export async function putEndpoint(
  deps: Pick<Deps, 'catalog' | 'sites'>,
  endpoint: StorageEndpoint,
): Promise<StorageEndpoint> {
  const issues: Array<{ field: string; message: string }> = [];
  if (endpoint.endpointId === RESULTS_ENDPOINT_ID) {
    issues.push({
      field: 'endpointId',
      message: `${RESULTS_ENDPOINT_ID} is the deployment's results bucket; it cannot be redefined`,
    });
  }
  if (endpoint.kind === 's3' && endpoint.bucket === undefined) {
    issues.push({ field: 'bucket', message: 'an s3 endpoint names its bucket' });
  }
  if (endpoint.kind === 's3' && endpoint.urlRoot !== undefined) {
    issues.push({ field: 'urlRoot', message: 'an s3 endpoint has a bucket, not a URL root' });
  }
  if (endpoint.kind === 'url' && endpoint.urlRoot === undefined) {
    issues.push({ field: 'urlRoot', message: 'a url endpoint names its URL root' });
  }
  if (endpoint.kind === 'url' && endpoint.bucket !== undefined) {
    issues.push({ field: 'bucket', message: 'a url endpoint has a URL root, not a bucket' });
  }
  const sites = [...new Set(endpoint.sites)];
  const known = await Promise.all(sites.map(async (siteId) => (await deps.sites.get(siteId)) !== undefined));
  const unknown = sites.filter((_, i) => !known[i]);
  if (unknown.length > 0) issues.push({ field: 'sites', message: `unknown site(s): ${unknown.join(', ')}` });
  if (issues.length > 0) throw new ValidationError('invalid storage endpoint', issues);
  const stored = { ...endpoint, sites };
  await deps.catalog.putEndpoint(stored);
  return stored;
}

export async function listEndpoints(deps: Pick<Deps, 'catalog'>): Promise<StorageEndpoint[]> {
  return deps.catalog.listEndpoints();
}

/** Creates an open dataset in a scope the caller may write in; 409 when the name is taken. */
export async function createDataset(
  deps: CatalogDeps,
  principal: Principal,
  request: { dataset: string; metadata?: Metadata | undefined },
): Promise<Dataset> {
  const did = parseDid(request.dataset);
  await assertMayWrite(deps, writerOf(principal), did, 'dataset');
  const dataset: Dataset = {
    ...did,
    state: 'open',
    owner: principal.sub,
    files: 0,
    bytes: 0,
    events: 0,
    metadata: request.metadata ?? {},
    createdAt: deps.clock.now().toISOString(),
  };
  if (!(await deps.catalog.createDataset(dataset))) {
    throw new ConflictError(`dataset: ${request.dataset} exists (a file or a dataset has that name)`);
  }
  return dataset;
}

export async function getDataset(deps: Pick<Deps, 'catalog'>, didText: string): Promise<Dataset> {
  const dataset = await deps.catalog.getDataset(parseDid(didText));
  if (dataset === undefined) throw new NotFoundError(`dataset ${didText} not found`);
  return dataset;
}

/** Closes a dataset in the caller's scopes (again: answers it as it is). */
export async function closeDataset(deps: CatalogDeps, principal: Principal, text: string): Promise<Dataset> {
  const did = parseDid(text);
  const dataset = await deps.catalog.getDataset(did);
  if (dataset === undefined) throw new NotFoundError(`dataset ${text} not found`);
  await assertMayWrite(deps, writerOf(principal), did, 'did');
  await deps.catalog.closeDataset(did, deps.clock.now().toISOString());
  return getDataset(deps, text);
}

export async function listDatasets(
  deps: Pick<Deps, 'catalog'>,
  query: PageRequest & { scope: string; prefix?: string | undefined },
): Promise<Page<Dataset>> {
  return deps.catalog.listDatasets(query.scope, {
    limit: query.limit,
    ...(query.nextToken === undefined ? {} : { nextToken: query.nextToken }),
    ...(query.prefix === undefined ? {} : { namePrefix: query.prefix }),
  });
}

/** Files with their replicas (one query per file). */
export async function withReplicas<F extends CatalogFileRecord>(
  deps: Pick<Deps, 'catalog'>,
  files: F[],
): Promise<Array<F & { replicas: Replica[] }>> {
  const replicas = await deps.catalog.replicasOf(files.map((f) => ({ scope: f.scope, name: f.name })));
  return files.map((f) => ({ ...f, replicas: replicas.get(didText(f)) ?? [] }));
}

export async function listDatasetFiles(
  deps: Pick<Deps, 'catalog'>,
  text: string,
  page: PageRequest,
): Promise<Page<CatalogFileRecord & { attachedSeq: number; replicas: Replica[] }>> {
  const did = parseDid(text);
  if ((await deps.catalog.getDataset(did)) === undefined)
    throw new NotFoundError(`dataset ${text} not found`);
  const files = await deps.catalog.listFiles(did, page);
  return { ...files, items: await withReplicas(deps, files.items) };
}

export async function getFile(
  deps: Pick<Deps, 'catalog'>,
  text: string,
): Promise<CatalogFileRecord & { replicas: Replica[] }> {
  const file = await deps.catalog.getFile(parseDid(text));
  if (file === undefined) throw new NotFoundError(`file ${text} not found`);
  const [withTheirs] = await withReplicas(deps, [file]);
  return withTheirs as CatalogFileRecord & { replicas: Replica[] };
}

/** `meta.runNumber=358031` query parameters → a filter (a value of digits is a number). */
export function metadataFilterOf(query: Record<string, unknown>): MetadataFilter {
  const filter: MetadataFilter = {};
  for (const [key, value] of Object.entries(query)) {
    if (!key.startsWith('meta.') || typeof value !== 'string') continue;
    filter[key.slice('meta.'.length)] = /^-?(0|[1-9][0-9]{0,14})(\.[0-9]+)?$/.test(value)
      ? Number(value)
      : value;
  }
  return filter;
}

export async function searchFiles(
  deps: Pick<Deps, 'catalog'>,
  query: PageRequest & { scope: string; filter: MetadataFilter },
): Promise<Page<CatalogFileRecord & { replicas: Replica[] }>> {
  const files = await deps.catalog.searchFiles(query.scope, query.filter, {
    limit: query.limit,
    ...(query.nextToken === undefined ? {} : { nextToken: query.nextToken }),
  });
  return { ...files, items: await withReplicas(deps, files.items) };
}

export function datasetView(dataset: Dataset): Dataset & { did: string } {
  return { ...dataset, did: didText(dataset) };
}

export function fileView<F extends CatalogFileRecord & { replicas: Replica[] }>(
  file: F,
): F & { did: string; replicas: Array<Omit<Replica, 'scope' | 'name'>> } {
  return {
    ...file,
    did: didText(file),
    replicas: file.replicas.map(({ scope: _scope, name: _name, ...replica }) => replica),
  };
}
