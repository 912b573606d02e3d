import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { ResourceClass } from '#core/jobs/resource-class.ts';
import { LIVE_PILOT_STATES, type LivePilotState, type PilotLease } from '#core/pilots/pilot.ts';
import type { PilotLeaseStore } from '#core/pilots/ports.ts';
import { errorName, rethrowSdkError } from '../sdk-errors.ts';
import { decodePageToken, encodePageToken } from './page-token.ts';

const CONDITION_FAILED = 'ConditionalCheckFailedException';
/** Leases read per page of a sweep (items are small: a page is far under 1 MB). */
const SCAN_PAGE = 1000;

type Item = Record<string, unknown>;

/** The live states, as condition values. */
const LIVE_VALUES: Item = Object.fromEntries(LIVE_PILOT_STATES.map((state, i) => [`:live${i}`, state]));
const IS_LIVE = `#state IN (${LIVE_PILOT_STATES.map((_, i) => `:live${i}`).join(', ')})`;
/** The live states but draining (a drain is never undone by the API), as condition values. */
const UNDRAINED_STATES = LIVE_PILOT_STATES.filter((state) => state !== 'draining');
const UNDRAINED_VALUES: Item = Object.fromEntries(
  UNDRAINED_STATES.map((state, i) => [`:undrained${i}`, state]),
);
const IS_UNDRAINED = `#state IN (${UNDRAINED_STATES.map((_, i) => `:undrained${i}`).join(', ')})`;

/**
 * Sets are stored as lists (an empty DynamoDB set cannot exist); entries are short strings. The
 * item stays far under 1 KB for a pilot holding a few jobs: one write unit per renewal.
 */
function fromItem(item: Item): PilotLease {
  return {
    pilotId: String(item.pilotId),
    siteId: String(item.siteId),
    ...(typeof item.host === 'string' ? { host: item.host } : {}),
    state: item.state as PilotLease['state'],
    expiresAt: Number(item.expiresAt),
    jobs: Array.isArray(item.jobs) ? (item.jobs as string[]) : [],
    kill:
      item.kill instanceof Set
        ? [...(item.kill as Set<string>)]
        : Array.isArray(item.kill)
          ? (item.kill as string[])
          : [],
    jobsRun: typeof item.jobsRun === 'number' ? item.jobsRun : 0,
    ...(typeof item.beatAt === 'string' ? { beatAt: item.beatAt } : {}),
    ...(Array.isArray(item.classes) ? { classes: item.classes as ResourceClass[] } : {}),
  };
}

/**
 * Pilot leases (pk pilotId), one small item per live pilot. The pilot renews its own (UpdateItem,
 * with credentials limited to this one key); claims and reports set the jobs it holds; cancel
 * adds kill entries (a string set); the reaper scans them all, marks the expired lost and removes
 * the gone.
 */
export class DynamoDbPilotLeaseStore implements PilotLeaseStore {
  readonly tableName: string;
  private readonly client: DynamoDBDocumentClient;

  constructor(client: DynamoDBDocumentClient, tableName: string) {
    this.client = client;
    this.tableName = tableName;
  }

  async create(lease: PilotLease): Promise<void> {
    const { kill: _kill, ...item } = lease;
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: item,
          ConditionExpression: 'attribute_not_exists(pilotId)',
        }),
      );
    } catch (error) {
      // Created already (by the first try of a retried registration): it stays as it is.
      if (errorName(error) === CONDITION_FAILED) return;
      rethrowSdkError(error, 'create pilot lease');
    }
  }

  async get(pilotId: string): Promise<PilotLease | undefined> {
    try {
      const out = await this.client.send(
        new GetCommand({ TableName: this.tableName, Key: { pilotId }, ConsistentRead: true }),
      );
      return out.Item === undefined ? undefined : fromItem(out.Item);
    } catch (error) {
      rethrowSdkError(error, 'get pilot lease');
    }
  }

  async hold(
    pilotId: string,
    change: {
      jobs: string[];
      state: LivePilotState;
      expiresAt: number;
      siteId?: string;
      dropKills?: string[];
    },
  ): Promise<PilotLease | undefined> {
    const values: Item = { ':jobs': change.jobs, ':exp': change.expiresAt };
    const drop = change.dropKills !== undefined && change.dropKills.length > 0 ? ' DELETE kill :drop' : '';
    if (drop !== '') values[':drop'] = new Set(change.dropKills);
    const site = change.siteId === undefined ? '' : ' AND siteId = :site';
    if (site !== '') values[':site'] = change.siteId;
    // A drain is never undone: a live pilot takes the state unless it drains; a draining one keeps
    // its own (a second write, for draining pilots only).
    const held = await this.conditionalUpdate(
      pilotId,
      'hold pilot lease',
      `SET jobs = :jobs, expiresAt = :exp, #state = :state${drop}`,
      `${IS_UNDRAINED}${site}`,
      { ...values, ...UNDRAINED_VALUES, ':state': change.state },
    );
    if (held !== undefined) return held;
    return this.conditionalUpdate(
      pilotId,
      'hold pilot lease',
      `SET jobs = :jobs, expiresAt = :exp${drop}`,
      `#state = :draining${site}`,
      { ...values, ':draining': 'draining' },
    );
  }

  async renew(
    pilotId: string,
    change: { state: LivePilotState | 'exited'; expiresAt: number; beatAt: string; jobsRun: number },
  ): Promise<PilotLease | undefined> {
    return this.conditionalUpdate(
      pilotId,
      'renew pilot lease',
      'SET #state = :state, expiresAt = :exp, beatAt = :beat, jobsRun = :run',
      IS_LIVE,
      {
        ...LIVE_VALUES,
        ':state': change.state,
        ':exp': change.expiresAt,
        ':beat': change.beatAt,
        ':run': change.jobsRun,
      },
    );
  }

  async addKills(pilotId: string, entries: string[]): Promise<void> {
    if (entries.length === 0) return;
    await this.conditionalUpdate(pilotId, 'tell a pilot to kill jobs', 'ADD kill :entries', IS_LIVE, {
      ...LIVE_VALUES,
      ':entries': new Set(entries),
    });
  }

  async markLost(pilotId: string, now: number): Promise<PilotLease | undefined> {
    return this.conditionalUpdate(
      pilotId,
      'mark pilot lost',
      'SET #state = :lost',
      `${IS_LIVE} AND expiresAt < :now`,
      {
        ...LIVE_VALUES,
        ':lost': 'lost',
        ':now': now,
      },
    );
  }

  async remove(pilotId: string): Promise<void> {
    try {
      await this.client.send(new DeleteCommand({ TableName: this.tableName, Key: { pilotId } }));
    } catch (error) {
      rethrowSdkError(error, 'remove pilot lease');
    }
  }

  async scan(cursor?: string): Promise<{ leases: PilotLease[]; cursor?: string }> {
    try {
      const out = await this.client.send(
        new ScanCommand({
          TableName: this.tableName,
          Limit: SCAN_PAGE,
          ExclusiveStartKey: decodePageToken(cursor, { pilotId: 'S' }),
        }),
      );
      const next = encodePageToken(out.LastEvaluatedKey);
      return { leases: (out.Items ?? []).map(fromItem), ...(next === undefined ? {} : { cursor: next }) };
    } catch (error) {
      rethrowSdkError(error, 'sweep pilot leases');
    }
  }

  private async conditionalUpdate(
    pilotId: string,
    what: string,
    expression: string,
    condition: string,
    values: Item,
  ): Promise<PilotLease | undefined> {
    try {
      const out = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pilotId },
          UpdateExpression: expression,
          ConditionExpression: condition,
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return out.Attributes === undefined ? undefined : fromItem(out.Attributes);
    } catch (error) {
      if (errorName(error) === CONDITION_FAILED) return undefined;
      rethrowSdkError(error, what);
    }
  }
}
