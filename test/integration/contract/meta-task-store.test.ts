import { DynamoDbMetaTaskStore } from '#adapters/dynamodb/dynamodb-meta-task-store.ts';
import { InMemoryMetaTaskStore } from '#test/support/in-memory-meta-tasks.ts';
import { storesOverFreshTables } from './dynamodb-tables.ts';
import { describeMetaTaskStoreContract } from './meta-task-store.contract.ts';

describeMetaTaskStoreContract('InMemoryMetaTaskStore', async () => new InMemoryMetaTaskStore());

describeMetaTaskStoreContract(
  'DynamoDbMetaTaskStore',
  storesOverFreshTables('contract-meta-', (db, tables) => new DynamoDbMetaTaskStore(db, tables.tasks)),
);
