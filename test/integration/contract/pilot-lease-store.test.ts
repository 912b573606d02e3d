import { DynamoDbPilotLeaseStore } from '#adapters/dynamodb/dynamodb-pilot-lease-store.ts';
import { InMemoryPilotLeaseStore } from '#test/support/in-memory-ports.ts';
import { storesOverFreshTables } from './dynamodb-tables.ts';
import { describePilotLeaseStoreContract } from './pilot-lease-store.contract.ts';

describePilotLeaseStoreContract('InMemoryPilotLeaseStore', async () => new InMemoryPilotLeaseStore());

describePilotLeaseStoreContract(
  'DynamoDbPilotLeaseStore',
  storesOverFreshTables('contract-lease-', (db, tables) => new DynamoDbPilotLeaseStore(db, tables.leases)),
);
