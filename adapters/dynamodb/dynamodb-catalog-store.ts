import {
  BatchGetCommand,
  type DynamoDBDocumentClient,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { Page, PageRequest } from '#core/api/common.ts';
import {
  type CatalogFile,
  type CatalogFileRecord,
  type Dataset,
  type MetadataFilter,
  RESULTS_ENDPOINT_ID,
  type Replica,
  type ReplicaState,
  type StorageEndpoint,
} from '#core/catalog/catalog.ts';
import { type Did, didText } from '#core/catalog/did.ts';
import type { CatalogStore, RegisterOutcome, ScopeRecord } from '#core/catalog/ports.ts';
import { ConflictError, TransientError, ValidationError } from '#core/errors.ts';
import { backoffDelay, mapBounded, sleep } from '../concurrency.ts';
import { errorName, rethrowSdkError } from '../sdk-errors.ts';
import { consistentGet } from './consistent-get.ts';
import { decodePageToken, encodePageToken } from './page-token.ts';

const CONDITION_FAILED = 'ConditionalCheckFailedException';
const CANCELED = 'TransactionCanceledException';
const BATCH_GET_MAX = 100;
/** Files per registration transaction: 3 items each (file, attachment, content) + the dataset ≤ 100. */
const FILES_PER_TRANSACTION = 25;
/** Tries of one chunk when concurrent registrations move the dataset's sequence under it. */
const CHUNK_TRIES = 20;

/**
 * Keys of the catalog table (pk, sk), chosen so each read is one query or one get:
 * - `did#<scope>` / `<name>`: the one item per DID (a file record or a dataset head with its totals
 *   and sequence), so a name is unique in its scope across files and datasets (conditional put);
 *   a scope's files are one query (searchFiles filters it).
 * - `datasets#<scope>` / `<name>`: a small listing item per dataset (listDatasets without the files).
 * - `att#<dataset>` / `<file scope:name>`: the attachment marker, put once (attribute_not_exists).
 * - `content#<dataset>` / `<seq, 12 digits>`: the attached file's record (files never change, so it
 *   is copied), in attach order: a dataset's contents are one query.
 * - `rep#<scope:name>` / `<endpointId>`: a file's replicas are one query.
 * - `endpoint` / `<endpointId>`, `scope` / `<scope>`: the few endpoints and scopes.
 */
const didPk = (scope: string) => `did#${scope}`;
const listingPk = (scope: string) => `datasets#${scope}`;
const attachPk = (dataset: Did) => `att#${didText(dataset)}`;
const contentPk = (dataset: Did) => `content#${didText(dataset)}`;
const replicaPk = (file: Did) => `rep#${didText(file)}`;
const ENDPOINT_PK = 'endpoint';
const SCOPE_PK = 'scope';
const seqSk = (seq: number) => String(seq).padStart(12, '0');

type Item = Record<string, unknown>;

/** The item without its keys (endpoints, scopes, replicas). */
function strip(item: Item): Item {
  const { pk: _pk, sk: _sk, ...rest } = item;
  return rest;
}

/** A DID item without its keys, its kind (file or dataset) and a dataset's sequence. */
function stripDid(item: Item): Item {
  const { kind: _kind, seq: _seq, attachedSeq: _attachedSeq, ...rest } = strip(item);
  return rest;
}

function fileOf(item: Item): CatalogFileRecord {
  return stripDid(item) as unknown as CatalogFileRecord;
}

function datasetOf(item: Item): Dataset {
  return stripDid(item) as unknown as Dataset;
}

function replicaOf(item: Item): Replica {
  return strip(item) as unknown as Replica;
}

function fileItem(file: CatalogFile, registeredBy: string, at: string): Item {
  const record: CatalogFileRecord = { ...file, metadata: file.metadata ?? {}, registeredBy, createdAt: at };
  return { pk: didPk(file.scope), sk: file.name, kind: 'file', ...record };
}

export interface CatalogStoreOptions {
  /** The deployment's results bucket: the GLUON-RESULTS endpoint, made rather than stored. */
  resultsBucket: string;
}

/** The endpoint of the deployment's results bucket (`tasks/…`), close to every site. */
export function resultsEndpoint(resultsBucket: string): StorageEndpoint {
  return {
    endpointId: RESULTS_ENDPOINT_ID,
    kind: 's3',
    bucket: resultsBucket,
    prefix: 'tasks/',
    sites: [],
    readable: true,
    writable: true,
  };
}

/** The catalog in one DynamoDB table (keys above). Every write is conditional. */
export class DynamoDbCatalogStore implements CatalogStore {
  private readonly db: DynamoDBDocumentClient;
  private readonly tableName: string;
  private readonly results: StorageEndpoint;

  constructor(db: DynamoDBDocumentClient, tableName: string, options: CatalogStoreOptions) {
    this.db = db;
    this.tableName = tableName;
    this.results = resultsEndpoint(options.resultsBucket);
  }

  // ---- scopes

  async getScope(scope: string): Promise<ScopeRecord | undefined> {
    const item = await this.get(SCOPE_PK, scope, 'get scope');
    return item === undefined ? undefined : (strip(item) as unknown as ScopeRecord);
  }

  async putScope(record: ScopeRecord): Promise<boolean> {
    return this.putNew({ pk: SCOPE_PK, sk: record.scope, ...record }, 'put scope');
  }

  async listScopes(): Promise<ScopeRecord[]> {
    return (await this.queryAll(SCOPE_PK, 'list scopes')).map((i) => strip(i) as unknown as ScopeRecord);
  }

  // ---- endpoints

  async putEndpoint(endpoint: StorageEndpoint): Promise<void> {
    if (endpoint.endpointId === RESULTS_ENDPOINT_ID) {
      throw new ValidationError('storage endpoint', [
        {
          field: 'endpointId',
          message: `${RESULTS_ENDPOINT_ID} is the deployment's results bucket; it cannot be redefined`,
        },
      ]);
    }
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { pk: ENDPOINT_PK, sk: endpoint.endpointId, ...endpoint },
        }),
      );
    } catch (error) {
      rethrowSdkError(error, 'put endpoint');
    }
  }

  async getEndpoint(endpointId: string): Promise<StorageEndpoint | undefined> {
    if (endpointId === RESULTS_ENDPOINT_ID) return this.results;
    const item = await this.get(ENDPOINT_PK, endpointId, 'get endpoint');
    return item === undefined ? undefined : (strip(item) as unknown as StorageEndpoint);
  }

  async listEndpoints(): Promise<StorageEndpoint[]> {
    const stored = (await this.queryAll(ENDPOINT_PK, 'list endpoints')).map(
      (i) => strip(i) as unknown as StorageEndpoint,
    );
    return [this.results, ...stored];
  }

  // ---- datasets

  async createDataset(dataset: Dataset): Promise<boolean> {
    try {
      await this.db.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.tableName,
                Item: { pk: didPk(dataset.scope), sk: dataset.name, kind: 'dataset', seq: 0, ...dataset },
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
            { Put: { TableName: this.tableName, Item: { pk: listingPk(dataset.scope), sk: dataset.name } } },
          ],
        }),
      );
      return true;
    } catch (error) {
      if (cancellationCodes(error)[0] === 'ConditionalCheckFailed') return false;
      rethrowSdkError(error, 'create dataset');
    }
  }

  async getDataset(did: Did): Promise<Dataset | undefined> {
    const item = await this.get(didPk(did.scope), did.name, 'get dataset');
    return item?.kind === 'dataset' ? datasetOf(item) : undefined;
  }

  async listDatasets(scope: string, page: PageRequest & { namePrefix?: string }): Promise<Page<Dataset>> {
    const pk = listingPk(scope);
    const start = decodePageToken(page.nextToken, { pk: 'S', sk: 'S' }, { pk });
    const prefix = page.namePrefix ?? '';
    try {
      const out = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: prefix === '' ? 'pk = :pk' : 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': pk, ...(prefix === '' ? {} : { ':prefix': prefix }) },
          Limit: page.limit,
          ConsistentRead: true,
          ...(start === undefined ? {} : { ExclusiveStartKey: start }),
        }),
      );
      const names = (out.Items ?? []).map((i) => i.sk as string);
      const items = await this.batchGet(
        names.map((name) => ({ pk: didPk(scope), sk: name })),
        'list datasets',
      );
      const datasets = names
        .map((name) => items.get(`${didPk(scope)}|${name}`))
        .filter((i): i is Item => i?.kind === 'dataset')
        .map(datasetOf);
      return { items: datasets, nextToken: encodePageToken(out.LastEvaluatedKey) };
    } catch (error) {
      rethrowSdkError(error, 'list datasets');
    }
  }

  async closeDataset(did: Did, at: string): Promise<boolean> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: didPk(did.scope), sk: did.name },
          UpdateExpression: 'SET #state = :closed, closedAt = :at',
          ConditionExpression: 'kind = :dataset AND #state = :open',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: {
            ':closed': 'closed',
            ':open': 'open',
            ':dataset': 'dataset',
            ':at': at,
          },
        }),
      );
      return true;
    } catch (error) {
      if (errorName(error) === CONDITION_FAILED) return false;
      rethrowSdkError(error, 'close dataset');
    }
  }

  // ---- files

  async registerFiles(
    files: Array<{ file: CatalogFile; replicas: Replica[] }>,
    options: { dataset?: Did; registeredBy: string; at: string },
  ): Promise<RegisterOutcome> {
    if (files.length > 1000) throw new RangeError('registerFiles: at most 1000 files per batch');
    const { dataset } = options;
    // Read everything first: the stored files (checksums) and, with a dataset, which are attached.
    const keys = files.map(({ file }) => ({ pk: didPk(file.scope), sk: file.name }));
    if (dataset !== undefined) {
      keys.push(...files.map(({ file }) => ({ pk: attachPk(dataset), sk: didText(file) })));
    }
    const stored = await this.batchGet(keys, 'read files to register');
    const conflicts: Extract<RegisterOutcome, { outcome: 'conflict' }>['conflicts'] = [];
    let existing = 0;
    const fresh = new Set<string>();
    for (const { file } of files) {
      const item = stored.get(`${didPk(file.scope)}|${file.name}`);
      if (item === undefined) {
        fresh.add(didText(file));
        continue;
      }
      const did = { scope: file.scope, name: file.name };
      if (item.kind !== 'file') conflicts.push({ did, field: 'bytes', registered: 'a dataset of that name' });
      else if (item.bytes !== file.bytes)
        conflicts.push({ did, field: 'bytes', registered: String(item.bytes) });
      else if (item.adler32 !== file.adler32) {
        conflicts.push({ did, field: 'adler32', registered: String(item.adler32) });
      } else existing += 1;
    }
    if (conflicts.length > 0) return { outcome: 'conflict', conflicts };
    if (dataset !== undefined) {
      const head = await this.getDataset(dataset);
      if (head === undefined) throw new ConflictError(`dataset ${didText(dataset)} does not exist`);
      if (head.state !== 'open') throw new ConflictError(`dataset ${didText(dataset)} is closed`);
    }

    // Replicas first (each once: a replay does not reset a replica's state), so a file that is
    // visible has its replicas.
    await mapBounded(
      files.flatMap(({ replicas }) => replicas),
      8,
      async (replica) => {
        await this.putReplica(replica, ['absent']);
      },
    );

    if (dataset === undefined) {
      await mapBounded(
        files.filter(({ file }) => fresh.has(didText(file))),
        8,
        async ({ file }) => {
          await this.putNewFile(file, options.registeredBy, options.at);
        },
      );
      return { outcome: 'registered', registered: fresh.size, existing, attached: 0 };
    }

    const toAttach = files.filter(({ file }) => !stored.has(`${attachPk(dataset)}|${didText(file)}`));
    let attached = 0;
    for (let i = 0; i < toAttach.length; i += FILES_PER_TRANSACTION) {
      const chunk = toAttach.slice(i, i + FILES_PER_TRANSACTION).map(({ file }) => file);
      attached += await this.attachChunk(dataset, chunk, fresh, options);
    }
    return { outcome: 'registered', registered: fresh.size, existing, attached };
  }

  /**
   * One transaction: the new files, their attachment markers and content items, and the dataset's
   * totals and sequence (conditioned on the sequence read, so concurrent registrations serialize
   * and a replay attaches nothing twice). Files found attached meanwhile are dropped and the rest
   * tried again.
   */
  private async attachChunk(
    dataset: Did,
    chunk: CatalogFile[],
    fresh: Set<string>,
    options: { registeredBy: string; at: string },
  ): Promise<number> {
    let pending = chunk;
    for (let attempt = 0; attempt < CHUNK_TRIES && pending.length > 0; attempt++) {
      const head = await this.get(didPk(dataset.scope), dataset.name, 'read dataset');
      if (head?.kind !== 'dataset') throw new ConflictError(`dataset ${didText(dataset)} does not exist`);
      if (head.state !== 'open') throw new ConflictError(`dataset ${didText(dataset)} is closed`);
      const seq = Number(head.seq ?? 0);
      const items: NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]['TransactItems']> = [];
      // Index in `items` of each file's attachment marker, to read the cancellation reasons.
      const markerAt: number[] = [];
      const fileAt: number[] = [];
      pending.forEach((file, k) => {
        const record = fileItem(file, options.registeredBy, options.at);
        if (fresh.has(didText(file))) {
          fileAt[k] = items.length;
          items.push({
            Put: { TableName: this.tableName, Item: record, ConditionExpression: 'attribute_not_exists(pk)' },
          });
        }
        markerAt[k] = items.length;
        items.push({
          Put: {
            TableName: this.tableName,
            Item: { pk: attachPk(dataset), sk: didText(file), seq: seq + k },
            ConditionExpression: 'attribute_not_exists(pk)',
          },
        });
        items.push({
          Put: {
            TableName: this.tableName,
            Item: { ...record, pk: contentPk(dataset), sk: seqSk(seq + k), attachedSeq: seq + k },
          },
        });
      });
      const events = pending.reduce((sum, f) => sum + (f.events ?? 0), 0);
      const bytes = pending.reduce((sum, f) => sum + f.bytes, 0);
      items.push({
        Update: {
          TableName: this.tableName,
          Key: { pk: didPk(dataset.scope), sk: dataset.name },
          UpdateExpression: 'SET seq = :next ADD #files :n, #bytes :bytes, #events :events',
          ConditionExpression: '#state = :open AND seq = :seq',
          ExpressionAttributeNames: {
            '#state': 'state',
            '#files': 'files',
            '#bytes': 'bytes',
            '#events': 'events',
          },
          ExpressionAttributeValues: {
            ':open': 'open',
            ':seq': seq,
            ':next': seq + pending.length,
            ':n': pending.length,
            ':bytes': bytes,
            ':events': events,
          },
        },
      });
      try {
        await this.db.send(new TransactWriteCommand({ TransactItems: items }));
        return pending.length;
      } catch (error) {
        const codes = cancellationCodes(error);
        if (errorName(error) !== CANCELED || codes.length === 0) rethrowSdkError(error, 'attach files');
        const attachedMeanwhile = new Set(
          pending.map((_, k) => k).filter((k) => codes[markerAt[k] as number] === 'ConditionalCheckFailed'),
        );
        const registeredMeanwhile = pending.filter(
          (_, k) => fileAt[k] !== undefined && codes[fileAt[k] as number] === 'ConditionalCheckFailed',
        );
        // A file registered by someone else between the read and now: stored as it is (its checksum
        // is checked on the next registration of it).
        for (const file of registeredMeanwhile) fresh.delete(didText(file));
        pending = pending.filter((_, k) => !attachedMeanwhile.has(k));
      }
    }
    if (pending.length > 0)
      throw new TransientError(`attach files to ${didText(dataset)}: too much contention`);
    return 0;
  }

  private async putNewFile(file: CatalogFile, registeredBy: string, at: string): Promise<void> {
    await this.putNew(fileItem(file, registeredBy, at), 'register file');
  }

  async getFile(did: Did): Promise<CatalogFileRecord | undefined> {
    const item = await this.get(didPk(did.scope), did.name, 'get file');
    return item?.kind === 'file' ? fileOf(item) : undefined;
  }

  async listFiles(
    dataset: Did,
    page: PageRequest,
  ): Promise<Page<CatalogFileRecord & { attachedSeq: number }>> {
    const pk = contentPk(dataset);
    const start = decodePageToken(page.nextToken, { pk: 'S', sk: 'S' }, { pk });
    try {
      const out = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': pk },
          Limit: page.limit,
          ConsistentRead: true,
          ...(start === undefined ? {} : { ExclusiveStartKey: start }),
        }),
      );
      return {
        items: (out.Items ?? []).map((i) => ({ ...fileOf(i), attachedSeq: Number(i.attachedSeq) })),
        nextToken: encodePageToken(out.LastEvaluatedKey),
      };
    } catch (error) {
      rethrowSdkError(error, 'list dataset files');
    }
  }

  async searchFiles(
    scope: string,
    filter: MetadataFilter,
    page: PageRequest,
  ): Promise<Page<CatalogFileRecord>> {
    const pk = didPk(scope);
    const start = decodePageToken(page.nextToken, { pk: 'S', sk: 'S' }, { pk });
    const names: Record<string, string> = { '#kind': 'kind' };
    if (Object.keys(filter).length > 0) names['#metadata'] = 'metadata';
    const values: Item = { ':pk': pk, ':file': 'file' };
    const conditions = ['#kind = :file'];
    Object.entries(filter).forEach(([key, value], i) => {
      names[`#k${i}`] = key;
      values[`:v${i}`] = value;
      conditions.push(`#metadata.#k${i} = :v${i}`);
    });
    try {
      const out = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk',
          FilterExpression: conditions.join(' AND '),
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          Limit: page.limit,
          ...(start === undefined ? {} : { ExclusiveStartKey: start }),
        }),
      );
      return { items: (out.Items ?? []).map(fileOf), nextToken: encodePageToken(out.LastEvaluatedKey) };
    } catch (error) {
      rethrowSdkError(error, 'search files');
    }
  }

  // ---- replicas

  async replicasOf(files: Did[]): Promise<Map<string, Replica[]>> {
    const result = new Map<string, Replica[]>();
    await mapBounded(files, 8, async (file) => {
      result.set(didText(file), (await this.queryAll(replicaPk(file), 'list replicas')).map(replicaOf));
    });
    return result;
  }

  async putReplica(replica: Replica, expect?: Array<ReplicaState | 'absent'>): Promise<boolean> {
    const conditions: string[] = [];
    const values: Item = {};
    if (expect !== undefined) {
      if (expect.includes('absent')) conditions.push('attribute_not_exists(pk)');
      const states = expect.filter((s): s is ReplicaState => s !== 'absent');
      if (states.length > 0) {
        conditions.push(`#state IN (${states.map((_, i) => `:s${i}`).join(', ')})`);
        states.forEach((s, i) => {
          values[`:s${i}`] = s;
        });
      }
      if (conditions.length === 0) return false;
    }
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { pk: replicaPk(replica), sk: replica.endpointId, ...replica },
          ...(conditions.length === 0
            ? {}
            : {
                ConditionExpression: conditions.join(' OR '),
                ...(Object.keys(values).length > 0
                  ? { ExpressionAttributeNames: { '#state': 'state' }, ExpressionAttributeValues: values }
                  : {}),
              }),
        }),
      );
      return true;
    } catch (error) {
      if (errorName(error) === CONDITION_FAILED) return false;
      rethrowSdkError(error, 'put replica');
    }
  }

  // ---- helpers

  private get(pk: string, sk: string, what: string): Promise<Item | undefined> {
    return consistentGet(this.db, this.tableName, { pk, sk }, what);
  }

  /** Puts an item that must not exist; false when it does. */
  private async putNew(item: Item, what: string): Promise<boolean> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: item,
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return true;
    } catch (error) {
      if (errorName(error) === CONDITION_FAILED) return false;
      rethrowSdkError(error, what);
    }
  }

  private async queryAll(pk: string, what: string): Promise<Item[]> {
    const items: Item[] = [];
    let start: Item | undefined;
    try {
      do {
        const out = await this.db.send(
          new QueryCommand({
            TableName: this.tableName,
            KeyConditionExpression: 'pk = :pk',
            ExpressionAttributeValues: { ':pk': pk },
            ConsistentRead: true,
            ...(start === undefined ? {} : { ExclusiveStartKey: start }),
          }),
        );
        items.push(...(out.Items ?? []));
        start = out.LastEvaluatedKey;
      } while (start !== undefined);
      return items;
    } catch (error) {
      rethrowSdkError(error, what);
    }
  }

  /** The items of these keys (consistent), by `pk|sk`; keys read again while DynamoDB leaves some unprocessed. */
  private async batchGet(keys: Array<{ pk: string; sk: string }>, what: string): Promise<Map<string, Item>> {
    const found = new Map<string, Item>();
    const unique = [...new Map(keys.map((k) => [`${k.pk}|${k.sk}`, k])).values()];
    const chunks: Array<Array<{ pk: string; sk: string }>> = [];
    for (let i = 0; i < unique.length; i += BATCH_GET_MAX) chunks.push(unique.slice(i, i + BATCH_GET_MAX));
    await mapBounded(chunks, 4, async (chunk) => {
      let pending: Array<Record<string, unknown>> = chunk;
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt >= 8) throw new TransientError(`${what}: keys left unprocessed`);
        if (attempt > 0) await sleep(backoffDelay(attempt));
        try {
          const out = await this.db.send(
            new BatchGetCommand({
              RequestItems: { [this.tableName]: { Keys: pending, ConsistentRead: true } },
            }),
          );
          for (const item of out.Responses?.[this.tableName] ?? []) found.set(`${item.pk}|${item.sk}`, item);
          pending = out.UnprocessedKeys?.[this.tableName]?.Keys ?? [];
        } catch (error) {
          rethrowSdkError(error, what);
        }
      }
    });
    return found;
  }
}

function cancellationCodes(error: unknown): string[] {
  if (errorName(error) !== CANCELED) return [];
  return ((error as { CancellationReasons?: Array<{ Code?: string }> }).CancellationReasons ?? []).map(
    (r) => r.Code ?? 'None',
  );
}
