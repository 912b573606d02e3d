import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  ScanCommand,
  type ScanCommandOutput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { Page } from '#core/api/contract.ts';
import { ConflictError, NotFoundError } from '#core/errors.ts';
import type { Pilot, PilotState } from '#core/pilots/pilot.ts';
import type { PageRequest, PilotStore } from '#core/ports.ts';
import { mapBounded } from '../concurrency.ts';
import { errorName, rethrowSdkError } from '../sdk-errors.ts';
import { decodePageToken, encodePageToken } from './page-token.ts';

const CONDITION_FAILED = 'ConditionalCheckFailedException';
/** Pilot states in which a pilot is expected to heartbeat; silence there means lost. */
const LIVE_STATES: readonly PilotState[] = ['starting', 'idle', 'busy', 'draining'];
const LOST_UPDATES_IN_FLIGHT = 10;

/**
 * Pilots in the pilots table (pk pilotId), stored in their domain shape.
 * list() and markLost() scan the table: acceptable while pilots number in the thousands; a
 * by-state index is the next step when they do not.
 */
export class DynamoDbPilotStore implements PilotStore {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;

  constructor(client: DynamoDBDocumentClient, tableName: string) {
    this.client = client;
    this.tableName = tableName;
  }

  async register(pilot: Pilot): Promise<void> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: GONE_STATES.has(pilot.state) ? { ...pilot, expiresAt: expiry(pilot.registeredAt) } : pilot,
          ConditionExpression: 'attribute_not_exists(pilotId)',
        }),
      );
    } catch (error) {
      if (errorName(error) === CONDITION_FAILED)
        throw new ConflictError(`pilot ${pilot.pilotId} already registered`);
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

  /** A page of a Scan (unordered). */
  async list(page: PageRequest): Promise<Page<Pilot>> {
    const startKey = decodePageToken(page.nextToken, { pilotId: 'S' });
    try {
      const out = await this.client.send(
        new ScanCommand({ TableName: this.tableName, Limit: page.limit, ExclusiveStartKey: startKey }),
      );
      return { items: (out.Items ?? []).map(fromItem), nextToken: encodePageToken(out.LastEvaluatedKey) };
    } catch (error) {
      rethrowSdkError(error, 'list pilots');
    }
  }

  async heartbeat(
    pilotId: string,
    change: { state: PilotState; at: string; currentJobId?: string },
  ): Promise<void> {
    const values: Record<string, unknown> = { ':state': change.state, ':at': change.at };
    let expression = 'SET #state = :state, lastHeartbeatAt = :at';
    if (change.currentJobId !== undefined) {
      expression += ', currentJobId = :job';
      values[':job'] = change.currentJobId;
    }
    if (GONE_STATES.has(change.state)) {
      expression += ', expiresAt = :expires';
      values[':expires'] = expiry(change.at);
    }
    if (change.currentJobId === undefined) expression += ' REMOVE currentJobId';
    await this.updateExisting(pilotId, 'pilot heartbeat', {
      UpdateExpression: expression,
      ExpressionAttributeNames: { '#state': 'state' },
      ExpressionAttributeValues: values,
    });
  }

  async jobEnded(pilotId: string, at: string): Promise<void> {
    await this.updateExisting(pilotId, 'record pilot job end', {
      UpdateExpression: 'SET #state = :idle, lastHeartbeatAt = :at ADD jobsRun :one REMOVE currentJobId',
      ExpressionAttributeNames: { '#state': 'state' },
      ExpressionAttributeValues: { ':one': 1, ':idle': 'idle', ':at': at },
    });
  }

  /** A paged Scan filtered on site and live state: fine for thousands of pilots; a GSI by site is the next step. */
  async countBySite(
    siteId: string,
  ): Promise<{ starting: number; idle: number; busy: number; draining: number }> {
    const counts = { starting: 0, idle: 0, busy: 0, draining: 0 };
    let startKey: Record<string, unknown> | undefined;
    try {
      do {
        const out: ScanCommandOutput = await this.client.send(
          new ScanCommand({
            TableName: this.tableName,
            FilterExpression: 'siteId = :site AND #state IN (:s0, :s1, :s2, :s3)',
            ExpressionAttributeNames: { '#state': 'state' },
            ExpressionAttributeValues: {
              ':site': siteId,
              ':s0': 'starting',
              ':s1': 'idle',
              ':s2': 'busy',
              ':s3': 'draining',
            },
            ProjectionExpression: '#state',
            ExclusiveStartKey: startKey,
          }),
        );
        for (const item of out.Items ?? []) {
          const state = item.state as keyof typeof counts;
          if (state in counts) counts[state] += 1;
        }
        startKey = out.LastEvaluatedKey;
      } while (startKey !== undefined);
    } catch (error) {
      rethrowSdkError(error, 'count pilots of a site');
    }
    return counts;
  }

  async markLost(before: string): Promise<string[]> {
    const names = { '#state': 'state' };
    const values: Record<string, unknown> = { ':before': before };
    LIVE_STATES.forEach((state, i) => {
      values[`:live${i}`] = state;
    });
    const condition = `#state IN (${LIVE_STATES.map((_, i) => `:live${i}`).join(', ')}) AND lastHeartbeatAt < :before`;
    const candidates: string[] = [];
    let startKey: Record<string, unknown> | undefined;
    try {
      do {
        const out: ScanCommandOutput = await this.client.send(
          new ScanCommand({
            TableName: this.tableName,
            FilterExpression: condition,
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
            ProjectionExpression: 'pilotId',
            ExclusiveStartKey: startKey,
          }),
        );
        for (const item of out.Items ?? []) candidates.push(String(item.pilotId));
        startKey = out.LastEvaluatedKey;
      } while (startKey !== undefined);
    } catch (error) {
      rethrowSdkError(error, 'scan for lost pilots');
    }
    // The scan may be stale: each pilot is marked only if the condition still holds.
    const marked = await mapBounded(candidates, LOST_UPDATES_IN_FLIGHT, async (pilotId) => {
      try {
        await this.client.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: { pilotId },
            UpdateExpression: 'SET #state = :lost, expiresAt = :expires',
            ConditionExpression: condition,
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: { ...values, ':lost': 'lost', ':expires': expiry(before) },
          }),
        );
        return pilotId;
      } catch (error) {
        if (errorName(error) === CONDITION_FAILED) return undefined;
        rethrowSdkError(error, 'mark pilot lost');
      }
    });
    return marked.filter((id): id is string => id !== undefined);
  }

  private async updateExisting(
    pilotId: string,
    what: string,
    update: {
      UpdateExpression: string;
      ExpressionAttributeNames?: Record<string, string>;
      ExpressionAttributeValues: Record<string, unknown>;
    },
  ): Promise<void> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pilotId },
          ConditionExpression: 'attribute_exists(pilotId)',
          ...update,
        }),
      );
    } catch (error) {
      if (errorName(error) === CONDITION_FAILED) throw new NotFoundError(`pilot ${pilotId} not found`);
      rethrowSdkError(error, what);
    }
  }
}

/** How long the books keep a pilot that is gone (exited, lost, unhealthy): DynamoDB TTL removes it then. */
export const PILOT_RETENTION_SEC = 30 * 86_400;
const GONE_STATES: ReadonlySet<PilotState> = new Set(['exited', 'lost', 'unhealthy']);

/** The TTL value (epoch seconds) of a pilot gone at `at`. */
function expiry(at: string): number {
  const ms = Date.parse(at);
  return Math.floor((Number.isNaN(ms) ? Date.now() : ms) / 1000) + PILOT_RETENTION_SEC;
}

function fromItem(item: Record<string, unknown>): Pilot {
  const { expiresAt: _expiresAt, ...pilot } = item;
  return pilot as unknown as Pilot;
}
