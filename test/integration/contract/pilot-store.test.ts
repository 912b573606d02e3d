import { DynamoDbPilotStore } from '#adapters/dynamodb/dynamodb-pilot-store.ts';
import { InMemoryPilotStore } from '#test/support/in-memory-ports.ts';
import { storesOverFreshTables } from './dynamodb-tables.ts';
import { describePilotStoreContract } from './pilot-store.contract.ts';

describePilotStoreContract('InMemoryPilotStore', async () => new InMemoryPilotStore());

describePilotStoreContract(
  'DynamoDbPilotStore',
  storesOverFreshTables('contract-pilot-', (db, tables) => new DynamoDbPilotStore(db, tables.pilots)),
);
