import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { rethrowSdkError } from '../sdk-errors.ts';

type Item = Record<string, unknown>;

/** One item of a `pk`/`sk` table, strongly consistent; SDK errors translated (naming `what`). */
export async function consistentGet(
  db: DynamoDBDocumentClient,
  tableName: string,
  key: { pk: string; sk: string },
  what: string,
): Promise<Item | undefined> {
  try {
    const out = await db.send(new GetCommand({ TableName: tableName, Key: key, ConsistentRead: true }));
    return out.Item;
  } catch (error) {
    rethrowSdkError(error, what);
  }
}
