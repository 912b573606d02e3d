import { DynamoDbRuleStore } from '#adapters/dynamodb/dynamodb-rule-store.ts';
import { InMemoryRuleStore } from '#test/support/in-memory-transfers.ts';
import { storesOverFreshTables } from './dynamodb-tables.ts';
import { describeRuleStoreContract } from './rule-store.contract.ts';

describeRuleStoreContract('InMemoryRuleStore', async () => new InMemoryRuleStore());

describeRuleStoreContract(
  'DynamoDbRuleStore',
  storesOverFreshTables('contract-rules-', (db, tables) => new DynamoDbRuleStore(db, tables.catalog)),
);
