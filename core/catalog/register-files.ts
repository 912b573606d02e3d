/**
 * Registering files by hand (`gluon file register`): a manifest of names, sizes and checksums, or
 * the listing of an endpoint's bucket read for its checksums. Every file gets a replica at the
 * endpoint; the batch is checked whole before anything is written (the store refuses a batch in
 * which one file conflicts with its registered size or checksum).
 */
import { MAX_FILES_PER_REGISTRATION, type RegisterFilesRequest } from '../api/catalog.ts';
import type { Deps, Principal } from '../deps.ts';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import type { CatalogFile, Replica, StorageEndpoint } from './catalog.ts';
import { DidNameSchema, didText, parseDid, userScope } from './did.ts';
import { assertMayWrite, writerOf } from './scopes.ts';

export interface RegisteredFiles {
  registered: number;
  existing: number;
  attached: number;
  files: Array<{ did: string; bytes: number; adler32: string }>;
}

/** Where a replica of `key` at the endpoint is: `s3://bucket/prefix+key`, or the URL root + key. */
export function replicaUrl(endpoint: StorageEndpoint, key: string): string {
  if (endpoint.kind === 's3') return `s3://${endpoint.bucket}/${endpoint.prefix}${key}`;
  const root = endpoint.urlRoot ?? '';
  return `${root}${root.endsWith('/') ? '' : '/'}${endpoint.prefix}${key}`;
}

export async function registerFiles(
  deps: Pick<Deps, 'catalog' | 'clock' | 'buckets'>,
  principal: Principal,
  request: RegisterFilesRequest,
): Promise<RegisteredFiles> {
  const who = writerOf(principal);
  const dataset = request.dataset === undefined ? undefined : parseDid(request.dataset);
  const scope = request.scope ?? dataset?.scope ?? userScope(principal.sub);
  if (dataset !== undefined) {
    await assertMayWrite(deps, who, dataset, 'dataset');
    const head = await deps.catalog.getDataset(dataset);
    if (head === undefined)
      throw new NotFoundError(`dataset: ${request.dataset} not found (create it first)`);
    if (head.state !== 'open') throw new ConflictError(`dataset: ${request.dataset} is closed`);
  }
  await assertMayWrite(deps, who, { scope, name: 'x' }, request.scope === undefined ? 'dataset' : 'scope');
  const endpoint = await deps.catalog.getEndpoint(request.endpoint);
  if (endpoint === undefined) {
    throw new ValidationError('invalid registration', [
      { field: 'endpoint', message: `no endpoint ${request.endpoint}` },
    ]);
  }
  const at = deps.clock.now().toISOString();
  const entries =
    request.files !== undefined
      ? manifestEntries(scope, endpoint, request.files, at)
      : await listingEntries(deps, scope, endpoint, request.fromListing ?? {}, at);
  if (entries.length === 0) {
    throw new ValidationError('invalid registration', [
      { field: 'fromListing.prefix', message: 'no objects under it' },
    ]);
  }
  const outcome = await deps.catalog.registerFiles(entries, {
    ...(dataset === undefined ? {} : { dataset }),
    registeredBy: principal.sub,
    at,
  });
  if (outcome.outcome === 'conflict') {
    const index = new Map(entries.map((e, i) => [e.file.name, i]));
    const where = request.files !== undefined ? 'files' : 'fromListing';
    const named = outcome.conflicts.map(
      (c) =>
        `${where}[${index.get(c.did.name)}].${c.field}: ${didText(c.did)} is registered with ${c.field} ${c.registered}`,
    );
    throw new ConflictError(`${named.join('; ')} (nothing was registered)`);
  }
  return {
    registered: outcome.registered,
    existing: outcome.existing,
    attached: outcome.attached,
    files: entries.map(({ file }) => ({ did: didText(file), bytes: file.bytes, adler32: file.adler32 })),
  };
}

type Entry = { file: CatalogFile; replicas: Replica[] };

function manifestEntries(
  scope: string,
  endpoint: StorageEndpoint,
  files: NonNullable<RegisterFilesRequest['files']>,
  at: string,
): Entry[] {
  const seen = new Map<string, number>();
  const issues: Array<{ field: string; message: string }> = [];
  files.forEach((f, i) => {
    const first = seen.get(f.name);
    if (first !== undefined)
      issues.push({ field: `files[${i}].name`, message: `${f.name} is also files[${first}]` });
    else seen.set(f.name, i);
    if (f.url !== undefined && endpoint.kind === 's3') {
      issues.push({
        field: `files[${i}].url`,
        message: `${endpoint.endpointId} is an s3 endpoint: give key`,
      });
    }
  });
  if (issues.length > 0) throw new ValidationError('invalid manifest', issues);
  return files.map((f) => ({
    file: {
      scope,
      name: f.name,
      bytes: f.bytes,
      adler32: f.adler32,
      ...(f.events === undefined ? {} : { events: f.events }),
      metadata: f.metadata ?? {},
    },
    replicas: [
      {
        scope,
        name: f.name,
        endpointId: endpoint.endpointId,
        state: 'available',
        url: f.url ?? replicaUrl(endpoint, f.key ?? f.name),
        updatedAt: at,
      },
    ],
  }));
}

/**
 * The objects of an s3 endpoint's bucket under its prefix (+ `prefix`), each read through for its
 * adler32; each file is named by its key below the endpoint's prefix, `/` turned into `.`.
 */
async function listingEntries(
  deps: Pick<Deps, 'buckets'>,
  scope: string,
  endpoint: StorageEndpoint,
  listing: NonNullable<RegisterFilesRequest['fromListing']>,
  at: string,
): Promise<Entry[]> {
  if (endpoint.kind !== 's3' || endpoint.bucket === undefined) {
    throw new ValidationError('invalid registration', [
      { field: 'endpoint', message: `${endpoint.endpointId} is not an s3 endpoint: register a manifest` },
    ]);
  }
  const bucket = endpoint.bucket;
  const prefix = `${endpoint.prefix}${listing.prefix ?? ''}`;
  const listed = await deps.buckets.listObjects(bucket, prefix, MAX_FILES_PER_REGISTRATION + 1);
  const objects = listed.objects.filter((o) => !o.key.endsWith('/'));
  if (objects.length > MAX_FILES_PER_REGISTRATION || listed.truncated) {
    throw new ValidationError('invalid registration', [
      {
        field: 'files',
        message: `more than ${MAX_FILES_PER_REGISTRATION} objects under ${prefix}: register a narrower prefix per call`,
      },
    ]);
  }
  const issues: Array<{ field: string; message: string }> = [];
  const names = objects.map((o) => {
    const name = o.key.slice(endpoint.prefix.length).replaceAll('/', '.');
    const parsed = DidNameSchema.safeParse(name);
    if (!parsed.success) {
      issues.push({
        field: 'fromListing.prefix',
        message: `object ${o.key}: ${parsed.error.issues[0]?.message}`,
      });
    }
    return name;
  });
  if (issues.length > 0) throw new ValidationError('invalid registration', issues.slice(0, 20));
  const entries: Entry[] = [];
  // One at a time: each read streams a whole object.
  for (const [i, object] of objects.entries()) {
    const sum = await deps.buckets.checksumObject(bucket, object.key);
    if (sum === undefined) continue; // removed since the listing
    const name = names[i] as string;
    entries.push({
      file: {
        scope,
        name,
        bytes: sum.bytes,
        adler32: sum.adler32,
        ...(listing.events === undefined ? {} : { events: listing.events }),
        metadata: listing.metadata ?? {},
      },
      replicas: [
        {
          scope,
          name,
          endpointId: endpoint.endpointId,
          state: 'available',
          url: `s3://${bucket}/${object.key}`,
          updatedAt: at,
        },
      ],
    });
  }
  return entries;
}
