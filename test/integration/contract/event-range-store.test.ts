import { DynamoDbEventRangeStore } from '#adapters/dynamodb/dynamodb-event-range-store.ts';
import { InMemoryEventRangeStore } from '#test/support/in-memory-ports.ts';
import { storesOverFreshTables } from './dynamodb-tables.ts';
import { describeEventRangeStoreContract } from './event-range-store.contract.ts';

describeEventRangeStoreContract('InMemoryEventRangeStore', async () => new InMemoryEventRangeStore());

describeEventRangeStoreContract(
  'DynamoDbEventRangeStore',
  storesOverFreshTables('contract-range-', (db, tables) => new DynamoDbEventRangeStore(db, tables.ranges)),
);
