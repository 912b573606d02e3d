import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  type TableDescription,
} from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dynamoDbClient } from '#adapters/aws-clients.ts';
import {
  createTables,
  INDEX,
  localTableNames,
  TABLES,
  type TableKey,
  type TableNames,
  tableEnvName,
  tableNamesFromEnv,
} from '#adapters/dynamodb/tables.ts';
import { uniquePrefix, useStandInsEnv } from '#test/support/stand-ins-env.ts';

let restoreEnv: () => void;
let client: DynamoDBClient;
let names: TableNames;
const described = new Map<TableKey, TableDescription>();

beforeAll(async () => {
  restoreEnv = useStandInsEnv();
  client = dynamoDbClient();
  names = localTableNames(uniquePrefix('it-tables-'));
  await createTables(client, names);
  for (const key of Object.keys(TABLES) as TableKey[]) {
    const out = await client.send(new DescribeTableCommand({ TableName: names[key] }));
    described.set(key, out.Table as TableDescription);
  }
});

afterAll(() => {
  client?.destroy();
  restoreEnv?.();
});

function table(key: TableKey): TableDescription {
  const description = described.get(key);
  if (description === undefined) throw new Error(`table ${key} not described`);
  return description;
}

describe('localTableNames', () => {
  it('names every table with the prefix', () => {
    expect(localTableNames('gluon-')).toEqual({
      tasks: 'gluon-tasks',
      jobs: 'gluon-jobs',
      ranges: 'gluon-ranges',
      attempts: 'gluon-attempts',
      pilots: 'gluon-pilots',
      leases: 'gluon-leases',
      sites: 'gluon-sites',
      policies: 'gluon-policies',
      webhooks: 'gluon-webhooks',
      accounting: 'gluon-accounting',
      catalog: 'gluon-catalog',
    });
  });
});

describe('createTables', () => {
  it('creates every table, active, with the keys the stores use', () => {
    const keys = Object.fromEntries(
      [...described].map(([key, t]) => [key, t.KeySchema?.map((k) => `${k.AttributeName}:${k.KeyType}`)]),
    );
    expect(keys).toEqual({
      tasks: ['taskId:HASH', 'sk:RANGE'],
      jobs: ['taskId:HASH', 'jobIndex:RANGE'],
      ranges: ['taskId:HASH', 'rangeIndex:RANGE'],
      attempts: ['jobId:HASH', 'attempt:RANGE'],
      pilots: ['pilotId:HASH'],
      leases: ['pilotId:HASH'],
      sites: ['siteId:HASH'],
      policies: ['policy:HASH', 'key:RANGE'],
      webhooks: ['owner:HASH', 'sk:RANGE'],
      accounting: ['pk:HASH', 'sk:RANGE'],
      catalog: ['pk:HASH', 'sk:RANGE'],
    });
    for (const [key, t] of described) expect(t.TableStatus, key).toBe('ACTIVE');
    expect(table('jobs').AttributeDefinitions).toContainEqual({
      AttributeName: 'jobIndex',
      AttributeType: 'N',
    });
    expect(table('ranges').AttributeDefinitions).toContainEqual({
      AttributeName: 'rangeIndex',
      AttributeType: 'N',
    });
  });

  it('gives the jobs, ranges and tasks tables a stream of new and old images, and no other table a stream', () => {
    for (const key of ['jobs', 'ranges', 'tasks'] as const) {
      expect(table(key).StreamSpecification, key).toEqual({
        StreamEnabled: true,
        StreamViewType: 'NEW_AND_OLD_IMAGES',
      });
      expect(table(key).LatestStreamArn).toEqual(expect.stringContaining(names[key]));
    }
    for (const key of [
      'attempts',
      'pilots',
      'leases',
      'sites',
      'policies',
      'webhooks',
      'accounting',
    ] as const) {
      expect(table(key).StreamSpecification?.StreamEnabled ?? false, key).toBe(false);
    }
  });

  it('indexes tasks by owner and creation time, and nothing else', () => {
    expect(table('tasks').GlobalSecondaryIndexes?.map((i) => [i.IndexName, i.KeySchema])).toEqual([
      [
        INDEX.tasksByOwner,
        [
          { AttributeName: 'owner', KeyType: 'HASH' },
          { AttributeName: 'createdAt', KeyType: 'RANGE' },
        ],
      ],
    ]);
    for (const key of ['jobs', 'ranges', 'attempts', 'pilots', 'leases', 'sites'] as const) {
      expect(table(key).GlobalSecondaryIndexes, key).toBeUndefined();
    }
  });

  it('lets the pilots table expire pilots gone, and the tasks table idempotency keys, on expiresAt', async () => {
    const ttl = await client.send(new DescribeTimeToLiveCommand({ TableName: names.pilots }));
    expect(ttl.TimeToLiveDescription).toMatchObject({
      AttributeName: 'expiresAt',
      TimeToLiveStatus: 'ENABLED',
    });
    // The tasks table expires the idempotency keys of submits (tasks themselves carry no expiresAt).
    const tasks = await client.send(new DescribeTimeToLiveCommand({ TableName: names.tasks }));
    expect(tasks.TimeToLiveDescription).toMatchObject({
      AttributeName: 'expiresAt',
      TimeToLiveStatus: 'ENABLED',
    });
    const leases = await client.send(new DescribeTimeToLiveCommand({ TableName: names.leases }));
    expect(leases.TimeToLiveDescription?.TimeToLiveStatus).toBe('DISABLED');
  });

  it('indexes pending webhook deliveries by when they are due', () => {
    expect(table('webhooks').GlobalSecondaryIndexes?.map((i) => [i.IndexName, i.KeySchema])).toEqual([
      [
        INDEX.webhookDeliveriesDue,
        [
          { AttributeName: 'due', KeyType: 'HASH' },
          { AttributeName: 'nextAttemptAt', KeyType: 'RANGE' },
        ],
      ],
    ]);
  });

  it('gives a table made before its definition had a stream (an older state dir) its stream', async () => {
    const older = localTableNames(uniquePrefix('it-tables-old-'));
    await client.send(
      new CreateTableCommand({
        TableName: older.tasks,
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [
          { AttributeName: 'taskId', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        AttributeDefinitions: [
          { AttributeName: 'taskId', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
        ],
      }),
    );
    await createTables(client, older);
    const tasks = await client.send(new DescribeTableCommand({ TableName: older.tasks }));
    expect(tasks.Table?.StreamSpecification).toEqual({
      StreamEnabled: true,
      StreamViewType: 'NEW_AND_OLD_IMAGES',
    });
  });

  it('leaves tables that exist as they are when called again', async () => {
    await createTables(client, names);
    const again = await client.send(new DescribeTableCommand({ TableName: names.jobs }));
    expect(again.Table?.LatestStreamArn).toBe(table('jobs').LatestStreamArn);
    expect(again.Table?.CreationDateTime).toEqual(table('jobs').CreationDateTime);
  });
});

describe('tableNamesFromEnv', () => {
  it('reads every table name from its variable', () => {
    const env = Object.fromEntries(
      (Object.keys(TABLES) as TableKey[]).map((key) => [tableEnvName(key), `x-${key}`]),
    );
    expect(tableNamesFromEnv(env)).toEqual(localTableNames('x-'));
    expect(tableEnvName('leases')).toBe('GLUON_LEASES_TABLE');
    expect(tableEnvName('attempts')).toBe('GLUON_ATTEMPTS_TABLE');
    expect(tableEnvName('ranges')).toBe('GLUON_RANGES_TABLE');
  });

  it('names the variables that are missing', () => {
    expect(() =>
      tableNamesFromEnv({ GLUON_TASKS_TABLE: 't', GLUON_JOBS_TABLE: 'j', GLUON_SITES_TABLE: 's' }),
    ).toThrow(
      'table names missing from the environment: GLUON_RANGES_TABLE, GLUON_ATTEMPTS_TABLE, GLUON_PILOTS_TABLE, GLUON_LEASES_TABLE',
    );
  });
});
