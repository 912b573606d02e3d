import { DynamoDbJobStore } from '#adapters/dynamodb/dynamodb-job-store.ts';
import { InMemoryJobStore } from '#test/support/in-memory-ports.ts';
import { storesOverFreshTables } from './dynamodb-tables.ts';
import { describeJobStoreContract } from './job-store.contract.ts';

describeJobStoreContract('InMemoryJobStore', async () => new InMemoryJobStore());

describeJobStoreContract(
  'DynamoDbJobStore',
  storesOverFreshTables(
    'contract-job-',
    (db, tables) => new DynamoDbJobStore(db, { jobs: tables.jobs, attempts: tables.attempts }),
  ),
);
