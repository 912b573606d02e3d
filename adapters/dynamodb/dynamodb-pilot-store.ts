import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { Page, PageRequest } from '#core/api/common.ts';
import type { Pilot } from '#core/pilots/pilot.ts';
import type { PilotStore } from '#core/pilots/ports.ts';
import { errorName, rethrowSdkError } from '../sdk-errors.ts';
import { decodePageToken, encodePageToken } from './page-token.ts';

const CONDITION_FAILED = 'ConditionalCheckFailedException';

/** How long the books keep a pilot that is gone (exited, lost, unhealthy): DynamoDB TTL removes it then. */
export const PILOT_RETENTION_SEC = 30 * 86_400;

/** The TTL value (epoch seconds) of a pilot gone at `at`. */
function expiry(at: string): number {
  const ms = Date.parse(at);
  return Math.floor((Number.isNaN(ms) ? Date.now() : ms) / 1000) + PILOT_RETENTION_SEC;
}

function fromItem(item: Record<string, unknown>): Pilot {
  const { expiresAt: _expiresAt, ...pilot } = item;
  return pilot as unknown as Pilot;
}

/**
 * The registry of pilots (pk pilotId): written at registration and once more when the pilot is
 * gone, never per heartbeat or job (that is the lease's business). list() scans: operators page
 * through it; an index by site is the next step for very large fleets.
 */
export class DynamoDbPilotStore implements PilotStore {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;

  constructor(client: DynamoDBDocumentClient, tableName: string) {
    this.client = client;
    this.tableName = tableName;
  }

  async register(pilot: Pilot): Promise<'registered' | 'exists'> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: pilot.endedAt === undefined ? pilot : { ...pilot, expiresAt: expiry(pilot.endedAt) },
          ConditionExpression: 'attribute_not_exists(pilotId)',
        }),
      );
      return 'registered';
    } catch (error) {
      if (errorName(error) === CONDITION_FAILED) return 'exists';
      rethrowSdkError(error, 'register pilot');
    }
  }

  async get(pilotId: string): Promise<Pilot | undefined> {
    try {
      const out = await this.client.send(
        new GetCommand({ TableName: this.tableName, Key: { pilotId }, ConsistentRead: true }),
      );
      return out.Item === undefined ? undefined : fromItem(out.Item);
    } catch (error) {
      rethrowSdkError(error, 'get pilot');
    }
  }

  async list(page: PageRequest): Promise<Page<Pilot>> {
    const startKey = decodePageToken(page.nextToken, { pilotId: 'S' });
    try {
      const out = await this.client.send(
        new ScanCommand({ TableName: this.tableName, Limit: page.limit, ExclusiveStartKey: startKey }),
      );
      const nextToken = encodePageToken(out.LastEvaluatedKey);
      return { items: (out.Items ?? []).map(fromItem), ...(nextToken === undefined ? {} : { nextToken }) };
    } catch (error) {
      rethrowSdkError(error, 'list pilots');
    }
  }

  async end(
    pilotId: string,
    change: { state: 'exited' | 'lost'; at: string; jobsRun?: number },
  ): Promise<void> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pilotId },
          UpdateExpression: `SET #state = :state, endedAt = :at, expiresAt = :expires${change.jobsRun === undefined ? '' : ', jobsRun = :jobsRun'}`,
          ConditionExpression: 'attribute_exists(pilotId) AND attribute_not_exists(endedAt)',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: {
            ':state': change.state,
            ':at': change.at,
            ':expires': expiry(change.at),
            ...(change.jobsRun === undefined ? {} : { ':jobsRun': change.jobsRun }),
          },
        }),
      );
    } catch (error) {
      // Ended already (a sweep done again), or unknown: nothing to record.
      if (errorName(error) === CONDITION_FAILED) return;
      rethrowSdkError(error, 'record pilot end');
    }
  }
}
