import { DynamoDbSiteStore } from '#adapters/dynamodb/dynamodb-site-store.ts';
import { InMemorySiteStore } from '#test/support/in-memory-ports.ts';
import { storesOverFreshTables } from './dynamodb-tables.ts';
import { describeSiteStoreContract } from './site-store.contract.ts';

describeSiteStoreContract('InMemorySiteStore', async () => new InMemorySiteStore());

describeSiteStoreContract(
  'DynamoDbSiteStore',
  storesOverFreshTables('contract-site-', (db, tables) => new DynamoDbSiteStore(db, tables.sites)),
);
