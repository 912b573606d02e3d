import { type DynamoDBDocumentClient, QueryCommand, type QueryCommandOutput } from '@aws-sdk/lib-dynamodb';
import type { PageRequest } from '#core/api/common.ts';
import { rethrowSdkError } from '../sdk-errors.ts';
import { decodePageToken } from './page-token.ts';
import { INDEX } from './tables.ts';

/**
 * One page of the tasks table's byOwner index for `owner` (a user's tasks, or `meta#<user>` for
 * their meta-tasks), newest first; the page token must be one of this listing (sk `sk`).
 */
export async function queryByOwner(
  client: DynamoDBDocumentClient,
  tableName: string,
  key: { owner: string; sk: string },
  page: PageRequest,
  what: string,
): Promise<QueryCommandOutput> {
  const startKey = decodePageToken(page.nextToken, { taskId: 'S', sk: 'S', owner: 'S', createdAt: 'S' }, key);
  try {
    return await client.send(
      new QueryCommand({
        TableName: tableName,
        IndexName: INDEX.tasksByOwner,
        KeyConditionExpression: '#owner = :o',
        ExpressionAttributeNames: { '#owner': 'owner' },
        ExpressionAttributeValues: { ':o': key.owner },
        ScanIndexForward: false,
        Limit: page.limit,
        ExclusiveStartKey: startKey,
      }),
    );
  } catch (error) {
    rethrowSdkError(error, what);
  }
}
