import { DynamoDbTaskStore } from '#adapters/dynamodb/dynamodb-task-store.ts';
import { InMemoryTaskStore } from '#test/support/in-memory-ports.ts';
import { storesOverFreshTables } from './dynamodb-tables.ts';
import { describeTaskStoreContract } from './task-store.contract.ts';

describeTaskStoreContract('InMemoryTaskStore', async () => new InMemoryTaskStore());

describeTaskStoreContract(
  'DynamoDbTaskStore',
  storesOverFreshTables('contract-task-', (db, tables) => new DynamoDbTaskStore(db, tables.tasks)),
);
