import { BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { TransientError } from '#core/errors.ts';
import { backoffDelay, mapBounded, sleep } from '../concurrency.ts';
import { rethrowSdkError } from '../sdk-errors.ts';

const BATCH_WRITE_MAX = 25;
const BATCH_TRIES = 8;

/**
 * Puts items into one table in batches of 25, 4 at a time; items DynamoDB leaves unprocessed
 * (throttling) are written again after a back-off, a bounded number of times.
 */
export async function batchPut(
  client: DynamoDBDocumentClient,
  tableName: string,
  items: Array<Record<string, unknown>>,
  what: string,
): Promise<void> {
  const chunks: Array<Array<Record<string, unknown>>> = [];
  for (let i = 0; i < items.length; i += BATCH_WRITE_MAX) chunks.push(items.slice(i, i + BATCH_WRITE_MAX));
  await mapBounded(chunks, 4, async (chunk) => {
    let pending: Array<{ PutRequest?: { Item?: Record<string, unknown> } }> = chunk.map((Item) => ({
      PutRequest: { Item },
    }));
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt >= BATCH_TRIES) throw new TransientError(`${what}: items left unprocessed`);
      if (attempt > 0) await sleep(backoffDelay(attempt));
      try {
        const out = await client.send(
          new BatchWriteCommand({ RequestItems: { [tableName]: pending as never } }),
        );
        pending = (out.UnprocessedItems?.[tableName] ?? []) as typeof pending;
      } catch (error) {
        rethrowSdkError(error, what);
      }
    }
  });
}
