import { DynamoDbRetryPolicyStore } from '#adapters/dynamodb/dynamodb-retry-policy-store.ts';
import { InMemoryRetryPolicyStore } from '#test/support/in-memory-ports.ts';
import { storesOverFreshTables } from './dynamodb-tables.ts';
import { describeRetryPolicyStoreContract } from './retry-policy-store.contract.ts';

describeRetryPolicyStoreContract('InMemoryRetryPolicyStore', async () => new InMemoryRetryPolicyStore());

describeRetryPolicyStoreContract(
  'DynamoDbRetryPolicyStore',
  storesOverFreshTables('contract-retry-', (db, tables) => new DynamoDbRetryPolicyStore(db, tables.policies)),
);
