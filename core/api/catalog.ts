/** The catalog routes' paths, queries, bodies and answers: scopes, endpoints, datasets, files. */
import { z } from 'zod';
import {
  Adler32Schema,
  DATASET_STATES,
  EndpointIdSchema,
  MetadataSchema,
  REPLICA_STATES,
  StorageEndpointSchema,
} from '../catalog/catalog.ts';
import { DidNameSchema, DidSchema, ScopeSchema } from '../catalog/did.ts';
import { PageQuerySchema, pageOf, TimeSchema } from './common.ts';

/** Files per registration call (one manifest, or one listing). */
export const MAX_FILES_PER_REGISTRATION = 1000;

export const CreateScopeRequestSchema = z.strictObject({
  scope: ScopeSchema,
  /** Token subjects who may write in it. */
  owners: z.array(z.string().min(1).max(256)).min(1).max(100),
});

export const ScopeViewSchema = z.object({
  scope: z.string(),
  owners: z.array(z.string()),
  createdAt: TimeSchema,
});

export const ScopeListSchema = z.object({
  /** The caller's own scope (`user.<sub>`), which needs no record. */
  own: z.string(),
  items: z.array(ScopeViewSchema),
});

export const EndpointPathSchema = z.strictObject({ endpointId: EndpointIdSchema });

/** The body of PUT /catalog/endpoints/{endpointId}: the endpoint without its id (the path names it). */
export const PutEndpointRequestSchema = StorageEndpointSchema.omit({ endpointId: true });

export const EndpointViewSchema = z.object({
  endpointId: z.string(),
  kind: z.enum(['s3', 'url']),
  bucket: z.string().optional(),
  prefix: z.string(),
  urlRoot: z.string().optional(),
  sites: z.array(z.string()),
  readable: z.boolean(),
  writable: z.boolean(),
});

export const EndpointListSchema = z.object({ items: z.array(EndpointViewSchema) });

export const DidPathSchema = z.strictObject({ did: DidSchema });

export const CreateDatasetRequestSchema = z.strictObject({
  dataset: DidSchema,
  metadata: MetadataSchema.optional(),
});

export const DatasetViewSchema = z.object({
  scope: z.string(),
  name: z.string(),
  did: z.string(),
  state: z.enum(DATASET_STATES),
  owner: z.string(),
  files: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  events: z.number().int().nonnegative(),
  taskId: z.string().optional(),
  metadata: z.record(z.string(), z.union([z.string(), z.number()])),
  createdAt: TimeSchema,
  closedAt: TimeSchema.optional(),
});

export const ListDatasetsQuerySchema = PageQuerySchema.extend({
  scope: ScopeSchema,
  prefix: z.string().max(250).optional(),
});

export const DatasetPageSchema = pageOf(DatasetViewSchema);

export const ReplicaViewSchema = z.object({
  endpointId: z.string(),
  state: z.enum(REPLICA_STATES),
  url: z.string(),
  updatedAt: TimeSchema,
  reason: z.string().optional(),
});

export const FileViewSchema = z.object({
  scope: z.string(),
  name: z.string(),
  did: z.string(),
  bytes: z.number().int().nonnegative(),
  adler32: z.string(),
  events: z.number().int().nonnegative().optional(),
  metadata: z.record(z.string(), z.union([z.string(), z.number()])),
  registeredBy: z.string(),
  createdAt: TimeSchema,
  replicas: z.array(ReplicaViewSchema),
});

export const DatasetFileViewSchema = FileViewSchema.extend({ attachedSeq: z.number().int().nonnegative() });
export const DatasetFilePageSchema = pageOf(DatasetFileViewSchema);
export const FilePageSchema = pageOf(FileViewSchema);

/** One file of a manifest: its replica at the endpoint is `key` under the endpoint's prefix (default the name), or `url`. */
export const ManifestFileSchema = z
  .strictObject({
    name: DidNameSchema,
    bytes: z.number().int().nonnegative(),
    adler32: Adler32Schema,
    events: z.number().int().nonnegative().optional(),
    metadata: MetadataSchema.optional(),
    key: z
      .string()
      .min(1)
      .max(1024)
      .refine((k) => !k.startsWith('/') && !k.split('/').includes('..'), 'a relative key with no .. part')
      .optional(),
    url: z
      .string()
      .max(2048)
      .regex(/^[a-z][a-z0-9+.-]*:\/\/[^\s]+$/, 'a URL such as root://eos.example.org//eos/data/f.root')
      .optional(),
  })
  .refine((f) => f.key === undefined || f.url === undefined, {
    message: 'give key or url, not both',
    path: ['url'],
  });

export const RegisterFilesRequestSchema = z
  .strictObject({
    /** The dataset the files are attached to (open; in a scope you may write in). */
    dataset: DidSchema.optional(),
    /** The scope of the files (default: the dataset's, else yours). */
    scope: ScopeSchema.optional(),
    endpoint: EndpointIdSchema,
    files: z
      .array(ManifestFileSchema)
      .max(MAX_FILES_PER_REGISTRATION, `at most ${MAX_FILES_PER_REGISTRATION} files per call`)
      .optional(),
    /** Register the objects of the endpoint's bucket under its prefix (+ `prefix`), reading each for its adler32. */
    fromListing: z
      .strictObject({
        prefix: z
          .string()
          .max(512)
          .refine(
            (p) => !p.startsWith('/') && !p.split('/').includes('..'),
            'a relative prefix with no .. part',
          )
          .optional(),
        /** Events per file, when every file holds as many. */
        events: z.number().int().nonnegative().optional(),
        metadata: MetadataSchema.optional(),
      })
      .optional(),
  })
  .superRefine((body, ctx) => {
    if ((body.files === undefined) === (body.fromListing === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['files'],
        message: 'give files (a manifest) or fromListing, one of them',
      });
    }
    if (body.files !== undefined && body.files.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['files'], message: 'at least one file' });
    }
  });
export type RegisterFilesRequest = z.infer<typeof RegisterFilesRequestSchema>;

export const RegisterFilesResponseSchema = z.object({
  registered: z.number().int().nonnegative(),
  existing: z.number().int().nonnegative(),
  attached: z.number().int().nonnegative(),
  files: z.array(z.object({ did: z.string(), bytes: z.number().int(), adler32: z.string() })),
});

/**
 * GET /catalog/files: a scope and metadata filters as `meta.<key>=<value>` (all must match; a
 * value of digits compares as a number).
 */
export const SearchFilesQuerySchema = PageQuerySchema.extend({ scope: ScopeSchema })
  .catchall(z.string().max(256))
  .superRefine((query, ctx) => {
    for (const key of Object.keys(query)) {
      if (['scope', 'limit', 'nextToken'].includes(key)) continue;
      if (!/^meta\.[A-Za-z][A-Za-z0-9_]{0,63}$/.test(key)) {
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: 'unknown parameter (metadata filters are meta.<key>=<value>)',
        });
      }
    }
  });
