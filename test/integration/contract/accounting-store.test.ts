import { DynamoDbAccountingStore } from '#adapters/dynamodb/dynamodb-accounting-store.ts';
import { InMemoryAccountingStore } from '#test/support/in-memory-ports.ts';
import { describeAccountingStoreContract } from './accounting-store.contract.ts';
import { storesOverFreshTables } from './dynamodb-tables.ts';

describeAccountingStoreContract('InMemoryAccountingStore', async () => new InMemoryAccountingStore());

describeAccountingStoreContract(
  'DynamoDbAccountingStore',
  storesOverFreshTables('contract-acc-', (db, tables) => new DynamoDbAccountingStore(db, tables.accounting)),
);
