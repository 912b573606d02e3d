import type { Page, PageRequest } from '../api/common.ts';
import type {
  CatalogFile,
  CatalogFileRecord,
  Dataset,
  MetadataFilter,
  Replica,
  ReplicaState,
  StorageEndpoint,
} from './catalog.ts';
import type { Did } from './did.ts';

/** A scope an operator made, and who may write in it (a user's own `user.<name>` needs no record). */
export interface ScopeRecord {
  scope: string;
  owners: string[];
  createdAt: string;
}

/** What registering a batch of files did to each: new, already there with the same checksum, or refused. */
export type RegisterOutcome =
  | { outcome: 'registered'; registered: number; existing: number; attached: number }
  | { outcome: 'conflict'; conflicts: Array<{ did: Did; field: 'adler32' | 'bytes'; registered: string }> };

/**
 * The catalog (one DynamoDB table). Files, datasets and their contents, replicas, endpoints and
 * scopes. Every write is conditional: a file's size and checksum never change; attaching a file
 * twice adds it (and its totals) once; a closed dataset takes no file.
 */
export interface CatalogStore {
  getScope(scope: string): Promise<ScopeRecord | undefined>;
  /** Creates the scope; false when it exists. */
  putScope(record: ScopeRecord): Promise<boolean>;
  listScopes(): Promise<ScopeRecord[]>;

  putEndpoint(endpoint: StorageEndpoint): Promise<void>;
  getEndpoint(endpointId: string): Promise<StorageEndpoint | undefined>;
  listEndpoints(): Promise<StorageEndpoint[]>;

  /** Creates the dataset (open); false when a dataset or file of that name exists in its scope. */
  createDataset(dataset: Dataset): Promise<boolean>;
  getDataset(did: Did): Promise<Dataset | undefined>;
  /** Datasets of a scope, by name (from `namePrefix` when given). */
  listDatasets(scope: string, page: PageRequest & { namePrefix?: string }): Promise<Page<Dataset>>;
  /** open → closed; false when it was already closed (or absent). */
  closeDataset(did: Did, at: string): Promise<boolean>;

  /**
   * Registers files (each with its replicas) and attaches them to `dataset` when given. Checks
   * every file first: one already registered with another size or checksum refuses the whole batch
   * (nothing written). Then writes: a file registered before with the same checksum is left as it
   * is; a file attached before is not attached (nor counted) twice. A closed dataset refuses
   * (ConflictError). Batches of up to 1000 files.
   */
  registerFiles(
    files: Array<{ file: CatalogFile; replicas: Replica[] }>,
    options: { dataset?: Did; registeredBy: string; at: string },
  ): Promise<RegisterOutcome>;
  getFile(did: Did): Promise<CatalogFileRecord | undefined>;
  /** The files attached to a dataset, in the order they were attached (so new files come last). */
  listFiles(dataset: Did, page: PageRequest): Promise<Page<CatalogFileRecord & { attachedSeq: number }>>;
  /** Files of a scope whose metadata has every key/value of the filter (a query of the scope, filtered). */
  searchFiles(scope: string, filter: MetadataFilter, page: PageRequest): Promise<Page<CatalogFileRecord>>;

  /** The replicas of each file (by `scope:name`), every state. */
  replicasOf(files: Did[]): Promise<Map<string, Replica[]>>;
  /**
   * Writes a replica; with `expect`, only if the stored one is in one of those states
   * ('absent' for none). False when the expectation failed.
   */
  putReplica(replica: Replica, expect?: Array<ReplicaState | 'absent'>): Promise<boolean>;
}
