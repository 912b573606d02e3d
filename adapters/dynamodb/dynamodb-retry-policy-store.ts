import {
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  type QueryCommandOutput,
  TransactWriteCommand,
} from '@aws-sdk/lib-dynamodb';
import type { Page, PageRequest } from '#core/api/common.ts';
import type { RetryPolicyStore, RetryPolicyVersion } from '#core/policies/ports.ts';
import { errorName, rethrowSdkError } from '../sdk-errors.ts';
import { decodePageToken, encodePageToken } from './page-token.ts';

/** The partition of the policies table that holds the retry rules. */
const POLICY = 'retry';
const CURRENT = 'current';
/** Version keys sort by number: `v#0000000007`. */
function versionKey(version: number): string {
  return `v#${String(version).padStart(10, '0')}`;
}

type Item = Record<string, unknown>;

function fromItem(item: Item): RetryPolicyVersion {
  return {
    version: item.version as number,
    ruleSet: item.ruleSet as RetryPolicyVersion['ruleSet'],
    createdAt: item.createdAt as string,
    createdBy: item.createdBy as string,
  };
}

/**
 * The retry rules' versions in the policies table (pk `policy` = `retry`, sk `key`): one immutable
 * item per version (`v#…`) and a copy of the current one (`current`), so deciding a failure is one
 * GetItem. A new version is one transaction: the version item, written only if absent, and the
 * current copy, moved only from the version before.
 */
export class DynamoDbRetryPolicyStore implements RetryPolicyStore {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;

  constructor(client: DynamoDBDocumentClient, tableName: string) {
    this.client = client;
    this.tableName = tableName;
  }

  async current(): Promise<RetryPolicyVersion | undefined> {
    return this.read(CURRENT, 'read the current retry rules');
  }

  async get(version: number): Promise<RetryPolicyVersion | undefined> {
    return this.read(versionKey(version), `read retry rules version ${version}`);
  }

  private async read(key: string, what: string): Promise<RetryPolicyVersion | undefined> {
    try {
      const out = await this.client.send(
        new GetCommand({ TableName: this.tableName, Key: { policy: POLICY, key }, ConsistentRead: true }),
      );
      return out.Item === undefined ? undefined : fromItem(out.Item);
    } catch (error) {
      rethrowSdkError(error, what);
    }
  }

  async list(page: PageRequest): Promise<Page<RetryPolicyVersion>> {
    const startKey = decodePageToken(page.nextToken, { policy: 'S', key: 'S' }, { policy: POLICY });
    let out: QueryCommandOutput;
    try {
      out = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: '#policy = :p AND begins_with(#key, :v)',
          ExpressionAttributeNames: { '#policy': 'policy', '#key': 'key' },
          ExpressionAttributeValues: { ':p': POLICY, ':v': 'v#' },
          ScanIndexForward: false,
          Limit: page.limit,
          ExclusiveStartKey: startKey,
        }),
      );
    } catch (error) {
      rethrowSdkError(error, 'list retry rules versions');
    }
    return {
      items: (out.Items ?? []).map(fromItem),
      ...(out.LastEvaluatedKey === undefined ? {} : { nextToken: encodePageToken(out.LastEvaluatedKey) }),
    };
  }

  async create(policy: RetryPolicyVersion): Promise<'ok' | 'conflict'> {
    const item = { policy: POLICY, ...policy };
    // The current copy moves only from the version before: none stored, or version − 1.
    const previous: {
      ConditionExpression: string;
      ExpressionAttributeNames: Record<string, string>;
      ExpressionAttributeValues?: Item;
    } =
      policy.version === 1
        ? { ConditionExpression: 'attribute_not_exists(#key)', ExpressionAttributeNames: { '#key': 'key' } }
        : {
            ConditionExpression: '#version = :before',
            ExpressionAttributeNames: { '#version': 'version' },
            ExpressionAttributeValues: { ':before': policy.version - 1 },
          };
    try {
      await this.client.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.tableName,
                Item: { ...item, key: versionKey(policy.version) },
                ConditionExpression: 'attribute_not_exists(#key)',
                ExpressionAttributeNames: { '#key': 'key' },
              },
            },
            { Put: { TableName: this.tableName, Item: { ...item, key: CURRENT }, ...previous } },
          ],
        }),
      );
      return 'ok';
    } catch (error) {
      if (errorName(error) === 'TransactionCanceledException') {
        const reasons =
          (error as { CancellationReasons?: Array<{ Code?: string }> }).CancellationReasons ?? [];
        // Another change took the number first, or is taking it now (DynamoDB cancels both).
        if (reasons.some((r) => r.Code === 'ConditionalCheckFailed' || r.Code === 'TransactionConflict'))
          return 'conflict';
      }
      rethrowSdkError(error, `store retry rules version ${policy.version}`);
    }
  }
}
