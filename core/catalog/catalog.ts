import { z } from 'zod';
import { SiteIdSchema } from '../sites/site-id.ts';
import { DidNameSchema, ScopeSchema } from './did.ts';

/**
 * The data catalog, in Rucio's model: scopes; data identifiers (files, and datasets that hold
 * files); replicas (which storage endpoint holds a copy of a file, and in what state); storage
 * endpoints (Rucio's RSEs: an S3 bucket and prefix, or the URL root of grid storage), each close
 * to some sites. A file's size and checksum never change once registered.
 */

/** Storage endpoint ids (Rucio's RSE names) are upper-case: `CERN-PROD_DATADISK`, `AWS-EU-WEST-1`. */
export const EndpointIdSchema = z
  .string()
  .regex(
    /^[A-Z0-9][A-Z0-9_-]{0,39}$/,
    'an endpoint id: upper-case letters, digits, _ - (start with a letter or digit), at most 40 characters',
  );

const BucketSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'an S3 bucket name (3 to 63 lower-case letters, digits, . -)');

/** A key prefix inside a bucket: empty, or ending in `/`, with no `..` part. */
const PrefixSchema = z
  .string()
  .max(512)
  .regex(
    /^$|^[A-Za-z0-9!_.*'()/-]*\/$/,
    "empty, or a key prefix ending in / (letters, digits, ! _ . * ' ( ) - /)",
  )
  .refine((p) => !p.split('/').includes('..'), 'no .. part');

export const StorageEndpointSchema = z.strictObject({
  endpointId: EndpointIdSchema,
  /** `s3`: objects in a bucket under a prefix; `url`: grid storage named by a URL root (not staged by S3). */
  kind: z.enum(['s3', 'url']),
  bucket: BucketSchema.optional(),
  prefix: PrefixSchema.default(''),
  /** `url` endpoints: `root://…`, `davs://…`, `https://…`. */
  urlRoot: z
    .string()
    .max(1024)
    .regex(/^[a-z][a-z0-9+.-]*:\/\/[^\s]+$/, 'a URL root such as root://eos.example.org//eos/data/')
    .optional(),
  /** The sites close to it: their pilots read its replicas as local data. */
  sites: z.array(SiteIdSchema).max(200).default([]),
  /** Down for reads (Rucio's availability): brokerage and stage-in skip its replicas. */
  readable: z.boolean().default(true),
  /** Rules and outputs may write to it. */
  writable: z.boolean().default(true),
});
export type StorageEndpoint = z.infer<typeof StorageEndpointSchema>;
export type StorageEndpointInput = z.input<typeof StorageEndpointSchema>;

/**
 * The endpoint of the deployment's own results bucket (`tasks/…`), where pilots write outputs.
 * It is not stored: the catalog makes it from the deployment's configuration, close to every site.
 */
export const RESULTS_ENDPOINT_ID = 'GLUON-RESULTS';

/** File metadata (Rucio's, SAM's): a few key/values such as run number and data type. */
export const MetadataSchema = z
  .record(
    z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9_]{0,63}$/, 'a metadata key: letters, digits, _ (start with a letter)'),
    z.union([z.string().max(256), z.number().finite()]),
  )
  .refine((m) => Object.keys(m).length <= 32, 'at most 32 metadata keys');
export type Metadata = z.infer<typeof MetadataSchema>;

export const Adler32Schema = z.string().regex(/^[0-9a-f]{8}$/, '8 lower-case hex digits');

/** A file as registered: its identity, size, checksum, events and metadata; never changed after. */
export const CatalogFileSchema = z.strictObject({
  scope: ScopeSchema,
  name: DidNameSchema,
  bytes: z.number().int().nonnegative(),
  adler32: Adler32Schema,
  events: z.number().int().nonnegative().optional(),
  metadata: MetadataSchema.default({}),
});
export type CatalogFile = z.infer<typeof CatalogFileSchema>;

export interface CatalogFileRecord extends CatalogFile {
  /** Who registered it (a token subject, or `system:…` for task outputs). */
  registeredBy: string;
  createdAt: string;
}

export const DATASET_STATES = ['open', 'closed'] as const;
export type DatasetState = (typeof DATASET_STATES)[number];

/** A dataset: a named set of files, open while files may still be added (Rucio closes it). */
export interface Dataset {
  scope: string;
  name: string;
  state: DatasetState;
  owner: string;
  /** Totals of its files, kept as files are attached. */
  files: number;
  bytes: number;
  events: number;
  /** The task whose outputs it holds, when a task made it. */
  taskId?: string;
  metadata: Metadata;
  createdAt: string;
  closedAt?: string;
}

/**
 * A replica's state (Rucio's): `available` (whole and verified), `copying` (a transfer is writing
 * it), `corrupt` (found not to match its checksum), `unavailable` (its endpoint lost it).
 */
export const REPLICA_STATES = ['available', 'copying', 'corrupt', 'unavailable'] as const;
export type ReplicaState = (typeof REPLICA_STATES)[number];

export interface Replica {
  scope: string;
  name: string;
  endpointId: string;
  state: ReplicaState;
  /** Where it is: `s3://bucket/key` for s3 endpoints, the full URL for url endpoints. */
  url: string;
  updatedAt: string;
  /** Why it is corrupt or unavailable. */
  reason?: string;
}

/** A metadata filter (`runNumber=358031,dataType=AOD`; numbers compare as numbers). */
export const MetadataFilterSchema = z.record(
  z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,63}$/, 'a metadata key'),
  z.union([z.string().max(256), z.number().finite()]),
);
export type MetadataFilter = z.infer<typeof MetadataFilterSchema>;

/** Whether a file's metadata has every key/value of the filter. */
export function matchesFilter(metadata: Metadata, filter: MetadataFilter | undefined): boolean {
  if (filter === undefined) return true;
  return Object.entries(filter).every(([key, value]) => metadata[key] === value);
}

/**
 * Whether a site's pilots read an endpoint's replicas as local data: the site is among the
 * endpoint's, or the endpoint is the deployment's results bucket (close to every site).
 */
export function isCloseTo(endpoint: Pick<StorageEndpoint, 'endpointId' | 'sites'>, siteId: string): boolean {
  return endpoint.endpointId === RESULTS_ENDPOINT_ID || endpoint.sites.includes(siteId);
}
