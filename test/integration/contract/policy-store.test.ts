import { DynamoDbPolicyStore } from '#adapters/dynamodb/dynamodb-policy-store.ts';
import { InMemoryPolicyStore } from '#test/support/in-memory-ports.ts';
import { storesOverFreshTables } from './dynamodb-tables.ts';
import { describePolicyStoreContract } from './policy-store.contract.ts';

describePolicyStoreContract('InMemoryPolicyStore', async () => new InMemoryPolicyStore());

describePolicyStoreContract(
  'DynamoDbPolicyStore',
  storesOverFreshTables('contract-policy-', (db, tables) => new DynamoDbPolicyStore(db, tables.policies)),
);
