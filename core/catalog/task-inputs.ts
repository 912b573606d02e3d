import { z } from 'zod';
import type { CatalogFileRecord } from './catalog.ts';
import { EndpointIdSchema, isCloseTo, MetadataFilterSchema, matchesFilter, type Replica } from './catalog.ts';
import { type Did, DidSchema, didText } from './did.ts';

/**
 * A task that reads a dataset (issue 11 §2, §4): what its spec says (`inputs.dataset`), and what
 * the workflow's resolve step made of it (the dataset's files in attach order, each with its
 * usable replicas). The resolved files are stored beside the spec, never in it: the spec is what
 * the user wrote.
 */

/** A precondition (the rules part): replicate the dataset to these endpoints before jobs run. */
export const InputRuleSchema = z.strictObject({
  endpoints: z.array(EndpointIdSchema).min(1).max(10),
  copies: z.number().int().min(1).optional(),
});

/** The dataset fields of `inputs` (beside `files`, which the task spec keeps). */
export const DatasetInputFields = {
  /** The dataset read, `scope:name`; its files are resolved by the workflow before the split. */
  dataset: DidSchema.optional(),
  /** Metadata every file must match (`{ runNumber: 358031 }`). */
  filter: MetadataFilterSchema.optional(),
  /** PanDA's runUntilClosed: take files registered after the start, until the dataset is closed. */
  untilClosed: z.boolean().optional(),
  /** Jobs may read replicas not close to their site (else a job goes only where its inputs are). */
  remoteRead: z.boolean().optional(),
  /** Replicate first (the rules part's precondition). */
  rule: InputRuleSchema.optional(),
} as const;

/** Where one replica of a resolved file is: its endpoint and its URL (`s3://bucket/key` or a grid URL). */
export interface ReplicaRef {
  endpointId: string;
  url: string;
}

/** A file of the dataset as jobs see it: `scope:name`, size, checksum, events, usable replicas. */
export interface ResolvedFile {
  name: string;
  bytes: number;
  adler32: string;
  events?: number;
  replicas: ReplicaRef[];
}

/** The resolved inputs of a dataset task, as the store gives them with its spec. */
export interface ResolvedInputs {
  files: ResolvedFile[];
  /** The sites close to each endpoint that holds a replica (from the endpoints, at resolution). */
  endpoints: Record<string, string[]>;
  /** The dataset was closed at the last resolution: no file comes after these. */
  closed: boolean;
}

/** The endpoint facts resolution needs. */
export interface EndpointFacts {
  endpointId: string;
  sites: string[];
  readable: boolean;
}

/**
 * The files of a dataset a task takes, in attach order: those matching the filter, each with its
 * `available` replicas at readable endpoints (a file with none is still taken: remote sites may
 * not read it, and stage-in reports it). Files already resolved (`known`) are skipped.
 */
export function resolveFiles(
  files: ReadonlyArray<CatalogFileRecord>,
  replicas: ReadonlyMap<string, Replica[]>,
  endpoints: ReadonlyMap<string, EndpointFacts>,
  filter: Record<string, string | number> | undefined,
  known: ReadonlySet<string> = new Set(),
): ResolvedFile[] {
  const out: ResolvedFile[] = [];
  for (const file of files) {
    if (!matchesFilter(file.metadata, filter)) continue;
    const name = didText(file);
    if (known.has(name)) continue;
    const usable = (replicas.get(name) ?? []).filter(
      (r) => r.state === 'available' && (endpoints.get(r.endpointId)?.readable ?? isResults(r.endpointId)),
    );
    out.push({
      name,
      bytes: file.bytes,
      adler32: file.adler32,
      ...(file.events === undefined ? {} : { events: file.events }),
      replicas: usable.map((r) => ({ endpointId: r.endpointId, url: r.url })),
    });
  }
  return out;
}

function isResults(endpointId: string): boolean {
  return isCloseTo({ endpointId, sites: [] }, '');
}

/** Whether endpoint `endpointId` is close to `siteId` by the resolution's endpoint map. */
export function endpointCloseTo(
  endpoints: Readonly<Record<string, string[]>>,
  endpointId: string,
  siteId: string,
): boolean {
  return isCloseTo({ endpointId, sites: endpoints[endpointId] ?? [] }, siteId);
}

/**
 * The replicas a pilot at `siteId` may stage a file in from, in the order it tries them: those
 * close to its site first (in the order resolved), then — only with remote read — the others.
 */
export function replicaOrder(
  replicas: readonly ReplicaRef[],
  endpoints: Readonly<Record<string, string[]>>,
  siteId: string | undefined,
  remoteRead: boolean,
): ReplicaRef[] {
  if (siteId === undefined) return [...replicas];
  const close = replicas.filter((r) => endpointCloseTo(endpoints, r.endpointId, siteId));
  if (!remoteRead) return close;
  return [...close, ...replicas.filter((r) => !close.includes(r))];
}

/** What one site has of a set of files: how many (and bytes) are close, and at which endpoints. */
export interface DataCloseness {
  files: number;
  bytes: number;
  closeFiles: number;
  closeBytes: number;
  /** The endpoints holding the close replicas (those that decided). */
  endpoints: string[];
}

export function closeness(
  files: ReadonlyArray<Pick<ResolvedFile, 'bytes' | 'replicas'>>,
  endpoints: Readonly<Record<string, string[]>>,
  siteId: string,
): DataCloseness {
  let closeFiles = 0;
  let closeBytes = 0;
  let bytes = 0;
  const used = new Set<string>();
  for (const file of files) {
    bytes += file.bytes;
    const close = file.replicas.find((r) => endpointCloseTo(endpoints, r.endpointId, siteId));
    if (close === undefined) continue;
    closeFiles++;
    closeBytes += file.bytes;
    used.add(close.endpointId);
  }
  return { files: files.length, bytes, closeFiles, closeBytes, endpoints: [...used].sort() };
}

/** One line for `gluon why`: "site-a: 20/20 files at DATA-A (close)". */
export function describeCloseness(siteId: string, c: DataCloseness, remoteRead: boolean): string {
  if (c.closeFiles > 0)
    return `${siteId}: ${c.closeFiles}/${c.files} files at ${c.endpoints.join(', ')} (close)`;
  return `${siteId}: 0/${c.files} files close, ${remoteRead ? 'remote read allowed' : 'remote read not allowed'}`;
}

/** The dataset a spec's inputs name, parsed. */
export function inputDataset(inputs: { dataset?: string | undefined } | undefined): Did | undefined {
  const text = inputs?.dataset;
  if (text === undefined) return undefined;
  const colon = text.indexOf(':');
  return { scope: text.slice(0, colon), name: text.slice(colon + 1) };
}
