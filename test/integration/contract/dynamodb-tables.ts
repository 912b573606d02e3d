/**
 * DynamoDB Local for the contract runners: points the SDK at the stand-ins for the test file (the
 * existing useStandInsEnv and freshTables) and gives each store tables of its own, so a DynamoDB
 * store starts as empty as a new in-memory fake.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll } from 'vitest';
import { dynamoDbDocumentClient } from '#adapters/aws-clients.ts';
import type { TableNames } from '#adapters/dynamodb/tables.ts';
import { uniquePrefix, useStandInsEnv } from '#test/support/stand-ins-env.ts';
import { freshTables } from '../adapters/fixtures.ts';

/**
 * Registers the file's setup and teardown; the function returned makes a store over fresh tables
 * (call it from a test or a hook).
 */
export function storesOverFreshTables<S>(
  prefix: string,
  make: (db: DynamoDBDocumentClient, tables: TableNames) => S,
): () => Promise<S> {
  let restoreEnv: (() => void) | undefined;
  let db: DynamoDBDocumentClient | undefined;
  beforeAll(() => {
    restoreEnv = useStandInsEnv();
    db = dynamoDbDocumentClient();
  });
  afterAll(() => {
    db?.destroy();
    restoreEnv?.();
  });
  return async () => {
    if (db === undefined) throw new Error('storesOverFreshTables: make stores inside tests or hooks');
    return make(db, await freshTables(uniquePrefix(prefix)));
  };
}
