import { DynamoDbCatalogStore } from '#adapters/dynamodb/dynamodb-catalog-store.ts';
import { InMemoryCatalogStore } from '#test/support/in-memory-catalog.ts';
import { describeCatalogStoreContract } from './catalog-store.contract.ts';
import { storesOverFreshTables } from './dynamodb-tables.ts';

const BUCKET = 'contract-results';

describeCatalogStoreContract('InMemoryCatalogStore', async () => new InMemoryCatalogStore(BUCKET), BUCKET);

describeCatalogStoreContract(
  'DynamoDbCatalogStore',
  storesOverFreshTables(
    'contract-catalog-',
    (db, tables) => new DynamoDbCatalogStore(db, tables.catalog, { resultsBucket: BUCKET }),
  ),
  BUCKET,
);
