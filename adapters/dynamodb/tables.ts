/**
 * The table definitions, in one place: the local stack creates its tables from them and CDK builds
 * its tables from them. Keys and index names here are the ones the stores use.
 */
import {
  type AttributeDefinition,
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  type GlobalSecondaryIndex,
  type KeySchemaElement,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';

export type TableKey =
  | 'tasks'
  | 'jobs'
  | 'ranges'
  | 'attempts'
  | 'pilots'
  | 'leases'
  | 'sites'
  | 'policies'
  | 'accounting'
  | 'webhooks'
  | 'catalog';
export type TableNames = Record<TableKey, string>;

export interface KeyAttribute {
  name: string;
  type: 'S' | 'N';
}

export interface IndexDefinition {
  name: string;
  partitionKey: KeyAttribute;
  sortKey?: KeyAttribute;
  projection: 'ALL' | 'KEYS_ONLY';
}

export interface TableDefinition {
  partitionKey: KeyAttribute;
  sortKey?: KeyAttribute;
  indexes: IndexDefinition[];
  /** Attribute holding an epoch-seconds expiry, when the table has TTL. */
  ttlAttribute?: string;
  /** The table's change feed (DynamoDB Streams), when something consumes it. */
  stream?: 'NEW_AND_OLD_IMAGES';
}

/** Index names, as the stores query them. */
export const INDEX = {
  tasksByOwner: 'byOwner',
  /** Pending webhook deliveries by when they are due (sparse: only pending ones carry `due`). */
  webhookDeliveriesDue: 'due',
} as const;

/**
 * Sort keys of the tasks table: the brokerage decision and the spec (sorted first), the job
 * counters of each feed, the range counters of each feed, the head.
 */
export const TASK_SK = {
  brokerage: '#brokerage',
  spec: '#spec',
  countsPrefix: 'counts#',
  rangeCountsPrefix: 'ranges#',
  head: 'task',
  /** An owner's idempotency key of a submit (pk `idem#<owner>#<key>`), expiring by TTL. */
  idempotency: 'idem',
  /** A dataset task's resolved input files, a page per item (`#inputs#<first index, 10 digits>`). */
  inputsPrefix: '#inputs#',
  /** A meta-task (pk `meta#<metaTaskId>`): spec, nodes, wait token; byOwner key `meta#<owner>`. */
  metaTask: 'meta',
} as const;

export const TABLES: Readonly<Record<TableKey, TableDefinition>> = {
  /**
   * Per task: its brokerage decision (sk `#brokerage`, up to tens of KB, read only by `gluon
   * why`), the immutable spec (sk `#spec`), the job counters kept by the change feed
   * (sk `counts#<feed>`, one item per stream shard), the range counters of an event-service task
   * (sk `ranges#<feed>`, likewise) and the small head (sk `task`). Only heads carry `owner`, so
   * byOwner lists tasks only; a Query from `counts#` on reads counters and head without the spec.
   * Idempotency keys of submits live apart (pk `idem#<owner>#<key>`, sk `idem`), expiring by TTL.
   */
  tasks: {
    partitionKey: { name: 'taskId', type: 'S' },
    sortKey: { name: 'sk', type: 'S' },
    indexes: [
      {
        name: INDEX.tasksByOwner,
        partitionKey: { name: 'owner', type: 'S' },
        sortKey: { name: 'createdAt', type: 'S' },
        projection: 'ALL',
      },
    ],
    // Heads' state changes are published as task events (publish-task-events).
    stream: 'NEW_AND_OLD_IMAGES',
    ttlAttribute: 'expiresAt',
  },
  /**
   * One record per job that was ever claimed (under 1 KB; no index, so no index write per
   * change). Its stream feeds the counters, the retry messages and the attempt archive.
   */
  jobs: {
    partitionKey: { name: 'taskId', type: 'S' },
    sortKey: { name: 'jobIndex', type: 'N' },
    indexes: [],
    stream: 'NEW_AND_OLD_IMAGES',
  },
  /**
   * Event ranges of event-service tasks, one record per range that was ever reported (under 1 KB;
   * no index). Its stream feeds the range counters, as the jobs table's feeds the job counters.
   */
  ranges: {
    partitionKey: { name: 'taskId', type: 'S' },
    sortKey: { name: 'rangeIndex', type: 'N' },
    indexes: [],
    stream: 'NEW_AND_OLD_IMAGES',
  },
  /** Ended attempts, written once each by the change feed: pk `<taskId>.<jobIndex>`, sk the attempt. */
  attempts: {
    partitionKey: { name: 'jobId', type: 'S' },
    sortKey: { name: 'attempt', type: 'N' },
    indexes: [],
  },
  /** The registry of pilots; those gone (exited, lost, unhealthy) expire after PILOT_RETENTION_SEC. */
  pilots: {
    partitionKey: { name: 'pilotId', type: 'S' },
    indexes: [],
    ttlAttribute: 'expiresAt',
  },
  /** Live pilots' leases only (small items, read in full by each sweep of the reaper). */
  leases: {
    partitionKey: { name: 'pilotId', type: 'S' },
    indexes: [],
  },
  sites: {
    partitionKey: { name: 'siteId', type: 'S' },
    indexes: [],
  },
  /**
   * The VO's policies, as data operators change without a redeploy: pk the policy (`retry`,
   * `shares`, `usage`, …), sk an item of it (a version, a user, a group). Small and read often.
   */
  policies: {
    partitionKey: { name: 'policy', type: 'S' },
    sortKey: { name: 'key', type: 'S' },
    indexes: [],
  },
  /**
   * Accounting (DynamoDbAccountingStore): usage records, one per ended attempt, under their day
   * (pk `usage#<day>#<shard>`, sk `<taskId>#<jobIndex>#<attempt>`: a day's records are a few
   * queries, and its writes spread over shards), and roll-ups (pk `rollup#<by>`, sk `<day>#<key>`:
   * a range of days is one query). No index: every read is by key.
   */
  accounting: {
    partitionKey: { name: 'pk', type: 'S' },
    sortKey: { name: 'sk', type: 'S' },
    indexes: [],
  },
  /**
   * Users' webhooks (sk `w#<webhookId>`) and their deliveries (sk `d#<webhookId>#<eventId>`, the
   * idempotency key of a send; event ids start with the change's time, so they sort by it), under
   * the owner. Deliveries expire after a while (`expiresAt`).
   */
  webhooks: {
    partitionKey: { name: 'owner', type: 'S' },
    sortKey: { name: 'sk', type: 'S' },
    indexes: [
      {
        name: INDEX.webhookDeliveriesDue,
        partitionKey: { name: 'due', type: 'S' },
        sortKey: { name: 'nextAttemptAt', type: 'S' },
        projection: 'ALL',
      },
    ],
    ttlAttribute: 'expiresAt',
  },
  /**
   * The data catalog (DynamoDbCatalogStore): one item per DID (pk `did#<scope>`, sk the name: a
   * name is unique in its scope across files and datasets), datasets' listing items, attachment
   * markers and contents in attach order, replicas per file, endpoints and scopes. No index: every
   * read is a get or a query of one partition.
   */
  catalog: {
    partitionKey: { name: 'pk', type: 'S' },
    sortKey: { name: 'sk', type: 'S' },
    indexes: [],
  },
};

function keySchema(partitionKey: KeyAttribute, sortKey?: KeyAttribute): KeySchemaElement[] {
  const schema: KeySchemaElement[] = [{ AttributeName: partitionKey.name, KeyType: 'HASH' }];
  if (sortKey !== undefined) schema.push({ AttributeName: sortKey.name, KeyType: 'RANGE' });
  return schema;
}

/** Every key attribute of the table and its indexes, once each. */
export function attributeDefinitions(table: TableDefinition): AttributeDefinition[] {
  const all = [
    table.partitionKey,
    table.sortKey,
    ...table.indexes.flatMap((i) => [i.partitionKey, i.sortKey]),
  ];
  const byName = new Map<string, KeyAttribute>();
  for (const attribute of all) if (attribute !== undefined) byName.set(attribute.name, attribute);
  return [...byName.values()].map((a) => ({ AttributeName: a.name, AttributeType: a.type }));
}

function globalSecondaryIndexes(table: TableDefinition): GlobalSecondaryIndex[] | undefined {
  if (table.indexes.length === 0) return undefined;
  return table.indexes.map((index) => ({
    IndexName: index.name,
    KeySchema: keySchema(index.partitionKey, index.sortKey),
    Projection: { ProjectionType: index.projection },
  }));
}

/** Creates the tables that do not exist yet (on-demand billing) and waits until all are ACTIVE. */
export async function createTables(client: DynamoDBClient, names: TableNames): Promise<void> {
  await Promise.all(
    (Object.keys(TABLES) as TableKey[]).map(async (key) => {
      const table = TABLES[key];
      const tableName = names[key];
      let created = false;
      try {
        await client.send(
          new CreateTableCommand({
            TableName: tableName,
            BillingMode: 'PAY_PER_REQUEST',
            KeySchema: keySchema(table.partitionKey, table.sortKey),
            AttributeDefinitions: attributeDefinitions(table),
            GlobalSecondaryIndexes: globalSecondaryIndexes(table),
            ...(table.stream === undefined
              ? {}
              : { StreamSpecification: { StreamEnabled: true, StreamViewType: table.stream } }),
          }),
        );
        created = true;
      } catch (error) {
        if ((error as Error).name !== 'ResourceInUseException') throw error;
      }
      await waitUntilTableExists(
        { client, maxWaitTime: 120, minDelay: 1, maxDelay: 2 },
        { TableName: tableName },
      );
      if (created && table.ttlAttribute !== undefined) {
        await client.send(
          new UpdateTimeToLiveCommand({
            TableName: tableName,
            TimeToLiveSpecification: { AttributeName: table.ttlAttribute, Enabled: true },
          }),
        );
      }
      if (!created && table.stream !== undefined) await ensureStream(client, tableName, table.stream);
    }),
  );
}

/** A table made before its definition had a change feed (an older state dir) gets its stream. */
async function ensureStream(
  client: DynamoDBClient,
  tableName: string,
  viewType: 'NEW_AND_OLD_IMAGES',
): Promise<void> {
  const described = await client.send(new DescribeTableCommand({ TableName: tableName }));
  if (described.Table?.StreamSpecification?.StreamEnabled === true) return;
  await client.send(
    new UpdateTableCommand({
      TableName: tableName,
      StreamSpecification: { StreamEnabled: true, StreamViewType: viewType },
    }),
  );
  await waitUntilTableExists(
    { client, maxWaitTime: 120, minDelay: 1, maxDelay: 2 },
    { TableName: tableName },
  );
}

const ENV_NAMES: Record<TableKey, string> = {
  tasks: 'GLUON_TASKS_TABLE',
  jobs: 'GLUON_JOBS_TABLE',
  ranges: 'GLUON_RANGES_TABLE',
  attempts: 'GLUON_ATTEMPTS_TABLE',
  pilots: 'GLUON_PILOTS_TABLE',
  leases: 'GLUON_LEASES_TABLE',
  sites: 'GLUON_SITES_TABLE',
  policies: 'GLUON_POLICIES_TABLE',
  accounting: 'GLUON_ACCOUNTING_TABLE',
  webhooks: 'GLUON_WEBHOOKS_TABLE',
  catalog: 'GLUON_CATALOG_TABLE',
};

/** The environment variable naming each table (the function environment contract). */
export function tableEnvName(key: TableKey): string {
  return ENV_NAMES[key];
}

/** Table names from GLUON_TASKS_TABLE, GLUON_JOBS_TABLE, … */
export function tableNamesFromEnv(env: NodeJS.ProcessEnv = process.env): TableNames {
  const missing = Object.values(ENV_NAMES).filter((name) => !env[name]);
  if (missing.length > 0) throw new Error(`table names missing from the environment: ${missing.join(', ')}`);
  return Object.fromEntries(
    (Object.keys(ENV_NAMES) as TableKey[]).map((key) => [key, env[ENV_NAMES[key]] as string]),
  ) as TableNames;
}

/** `${prefix}tasks`, `${prefix}jobs`, … */
export function localTableNames(prefix: string): TableNames {
  return Object.fromEntries(
    (Object.keys(TABLES) as TableKey[]).map((key) => [key, `${prefix}${key}`]),
  ) as TableNames;
}
