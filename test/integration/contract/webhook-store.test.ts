import { DynamoDbWebhookStore } from '#adapters/dynamodb/dynamodb-webhook-store.ts';
import { InMemoryWebhookStore } from '#test/support/in-memory-notifications.ts';
import { storesOverFreshTables } from './dynamodb-tables.ts';
import { describeWebhookStoreContract } from './webhook-store.contract.ts';

describeWebhookStoreContract('InMemoryWebhookStore', async () => new InMemoryWebhookStore());

describeWebhookStoreContract(
  'DynamoDbWebhookStore',
  storesOverFreshTables('contract-webhook-', (db, tables) => new DynamoDbWebhookStore(db, tables.webhooks)),
);
