import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  ScanCommand,
  type ScanCommandOutput,
} from '@aws-sdk/lib-dynamodb';
import type { SiteStore } from '#core/ports.ts';
import type { Site } from '#core/sites/site.ts';
import { rethrowSdkError } from '../sdk-errors.ts';

/** Sites in the sites table (pk siteId), stored in their domain shape. A handful of items: list() scans. */
export class DynamoDbSiteStore implements SiteStore {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;

  constructor(client: DynamoDBDocumentClient, tableName: string) {
    this.client = client;
    this.tableName = tableName;
  }

  async put(site: Site): Promise<void> {
    try {
      await this.client.send(new PutCommand({ TableName: this.tableName, Item: site }));
    } catch (error) {
      rethrowSdkError(error, 'put site');
    }
  }

  async get(siteId: string): Promise<Site | undefined> {
    try {
      const out = await this.client.send(
        new GetCommand({ TableName: this.tableName, Key: { siteId }, ConsistentRead: true }),
      );
      return out.Item as Site | undefined;
    } catch (error) {
      rethrowSdkError(error, 'get site');
    }
  }

  async list(): Promise<Site[]> {
    const sites: Site[] = [];
    let startKey: Record<string, unknown> | undefined;
    try {
      do {
        const out: ScanCommandOutput = await this.client.send(
          new ScanCommand({ TableName: this.tableName, ExclusiveStartKey: startKey }),
        );
        sites.push(...((out.Items ?? []) as Site[]));
        startKey = out.LastEvaluatedKey;
      } while (startKey !== undefined);
    } catch (error) {
      rethrowSdkError(error, 'list sites');
    }
    return sites.sort((a, b) => a.siteId.localeCompare(b.siteId));
  }
}
