import {
  type DynamoDBDocumentClient,
  GetCommand,
  ScanCommand,
  type ScanCommandOutput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { SiteStore } from '#core/sites/ports.ts';
import type { PilotCensus, Site, SiteRecord } from '#core/sites/site.ts';
import { rethrowSdkError } from '../sdk-errors.ts';

/** Sites in the sites table (pk siteId): the definition and the reaper's pilot census. A handful of items: list() scans. */
export class DynamoDbSiteStore implements SiteStore {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;

  constructor(client: DynamoDBDocumentClient, tableName: string) {
    this.client = client;
    this.tableName = tableName;
  }

  /** Sets the definition's fields only, so the census survives a redefinition. */
  async put(site: Site): Promise<void> {
    const { siteId, ...definition } = site;
    const fields = Object.entries(definition);
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { siteId },
          UpdateExpression: `SET ${fields.map((_, i) => `#f${i} = :f${i}`).join(', ')}`,
          ExpressionAttributeNames: Object.fromEntries(fields.map(([name], i) => [`#f${i}`, name])),
          ExpressionAttributeValues: Object.fromEntries(fields.map(([, value], i) => [`:f${i}`, value])),
        }),
      );
    } catch (error) {
      rethrowSdkError(error, 'put site');
    }
  }

  async get(siteId: string): Promise<SiteRecord | undefined> {
    try {
      const out = await this.client.send(
        new GetCommand({ TableName: this.tableName, Key: { siteId }, ConsistentRead: true }),
      );
      return out.Item as SiteRecord | undefined;
    } catch (error) {
      rethrowSdkError(error, 'get site');
    }
  }

  async list(): Promise<SiteRecord[]> {
    const sites: SiteRecord[] = [];
    let startKey: Record<string, unknown> | undefined;
    try {
      do {
        const out: ScanCommandOutput = await this.client.send(
          new ScanCommand({ TableName: this.tableName, ExclusiveStartKey: startKey }),
        );
        sites.push(...((out.Items ?? []) as SiteRecord[]));
        startKey = out.LastEvaluatedKey;
      } while (startKey !== undefined);
    } catch (error) {
      rethrowSdkError(error, 'list sites');
    }
    return sites.sort((a, b) => a.siteId.localeCompare(b.siteId));
  }

  async recordCensus(siteId: string, pilots: PilotCensus, at: string): Promise<void> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { siteId },
          UpdateExpression: 'SET census = :census',
          ConditionExpression: 'attribute_exists(siteId)',
          ExpressionAttributeValues: { ':census': { pilots, at } },
        }),
      );
    } catch (error) {
      if ((error as { name?: string }).name === 'ConditionalCheckFailedException') return;
      rethrowSdkError(error, 'record pilot census');
    }
  }
}
