/**
 * The table definitions, in one place: the local stack creates its tables from them and CDK builds
 * its tables from them. Keys and index names here are the ones the stores use.
 */
import {
  type AttributeDefinition,
  CreateTableCommand,
  type DynamoDBClient,
  type GlobalSecondaryIndex,
  type KeySchemaElement,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';

export type TableKey = 'tasks' | 'jobs' | 'pilots' | 'sites';
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
}

/** Index names, as the stores query them. */
export const INDEX = {
  tasksByOwner: 'byOwner',
  jobsByTaskState: 'byTaskState',
  jobsByLease: 'byLease',
} as const;

/** Shards of the byLease index partition key (`lease#0`..`lease#7`, by jobIndex). */
export const LEASE_SHARDS = 8;
/** Shards of a task's job counters (`counts#00`..`counts#15`, by jobIndex). */
export const COUNTER_SHARDS = 16;

export const TABLES: Readonly<Record<TableKey, TableDefinition>> = {
  /**
   * The task item (sk `task`) and its job counters (sk `counts#NN`). Only task items carry
   * `owner`, so byOwner lists tasks only.
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
  },
  /**
   * One item per job. byTaskState: `stateIndex` = `${state}#${jobIndex:08}`. byLease is sparse:
   * `leaseShard` exists only while the job is leased (starting/running); the items are re-read
   * consistently before anyone acts on them, so the index keeps keys only.
   */
  jobs: {
    partitionKey: { name: 'taskId', type: 'S' },
    sortKey: { name: 'jobIndex', type: 'N' },
    indexes: [
      {
        name: INDEX.jobsByTaskState,
        partitionKey: { name: 'taskId', type: 'S' },
        sortKey: { name: 'stateIndex', type: 'S' },
        projection: 'KEYS_ONLY',
      },
      {
        name: INDEX.jobsByLease,
        partitionKey: { name: 'leaseShard', type: 'S' },
        sortKey: { name: 'leaseExpiresAt', type: 'N' },
        projection: 'KEYS_ONLY',
      },
    ],
  },
  pilots: {
    partitionKey: { name: 'pilotId', type: 'S' },
    indexes: [],
    // Pilots that are gone (exited, lost, unhealthy) expire after PILOT_RETENTION_SEC.
    ttlAttribute: 'expiresAt',
  },
  sites: {
    partitionKey: { name: 'siteId', type: 'S' },
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
    }),
  );
}

const ENV_NAMES: Record<TableKey, string> = {
  tasks: 'GLUON_TASKS_TABLE',
  jobs: 'GLUON_JOBS_TABLE',
  pilots: 'GLUON_PILOTS_TABLE',
  sites: 'GLUON_SITES_TABLE',
};

/** Table names from GLUON_TASKS_TABLE, GLUON_JOBS_TABLE, GLUON_PILOTS_TABLE, GLUON_SITES_TABLE. */
export function tableNamesFromEnv(env: NodeJS.ProcessEnv = process.env): TableNames {
  const missing = Object.values(ENV_NAMES).filter((name) => !env[name]);
  if (missing.length > 0) throw new Error(`table names missing from the environment: ${missing.join(', ')}`);
  return {
    tasks: env[ENV_NAMES.tasks] as string,
    jobs: env[ENV_NAMES.jobs] as string,
    pilots: env[ENV_NAMES.pilots] as string,
    sites: env[ENV_NAMES.sites] as string,
  };
}

/** `${prefix}tasks`, `${prefix}jobs`, … */
export function localTableNames(prefix: string): TableNames {
  return {
    tasks: `${prefix}tasks`,
    jobs: `${prefix}jobs`,
    pilots: `${prefix}pilots`,
    sites: `${prefix}sites`,
  };
}
