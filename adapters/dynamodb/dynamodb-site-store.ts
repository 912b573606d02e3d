import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  ScanCommand,
  type ScanCommandOutput,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { ProvisioningDecision } from '#core/provisioning/provisioning-decision.ts';
import {
  isNoteworthyDecision,
  PROVISIONING_HISTORY_MAX,
  SITE_HISTORY_MAX,
  type SiteStore,
} from '#core/sites/ports.ts';
import {
  type PilotCensus,
  type Site,
  type SiteRecord,
  SiteSchema,
  type SiteStatus,
  type StatusChange,
  type StatusExpectation,
  type TestTaskState,
} from '#core/sites/site.ts';
import {
  bookOutcomes,
  bookUnhealthyPilot,
  emptyOutcomeBook,
  type OutcomeBook,
  type OutcomeEntry,
  type SiteOutcomes,
} from '#core/sites/site-outcomes.ts';
import { errorName, rethrowSdkError } from '../sdk-errors.ts';

const CONDITION_FAILED = 'ConditionalCheckFailedException';
/** Optimistic writes of a site's outcomes tried before giving up (the batch then comes again). */
const OUTCOME_WRITE_TRIES = 5;
/** Fields of a definition; those left out of a put are removed. */
const DEFINITION_FIELDS = Object.keys(SiteSchema.shape).filter((field) => field !== 'siteId');

/**
 * Side items of a site, in the same table under keys no site id can take (`#` is not allowed in
 * one): its status history, and its recent outcomes. They are apart from the site's item because
 * that item is read by every demand call and registration and written by every census: a 100-entry
 * history on it would multiply their cost, and outcomes written once per change-feed batch would
 * contend with them.
 */
const HISTORY_KEY = (siteId: string) => `${siteId}#history`;
const OUTCOMES_KEY = (siteId: string) => `${siteId}#outcomes`;
/** The provisioner's noteworthy decisions (written at most once a cycle, read by GET /sites/{siteId}/provisioning). */
const PROVISIONING_KEY = (siteId: string) => `${siteId}#provisioning`;

type Item = Record<string, unknown>;

/** An expression being built: its text parts, and the names and values they use. */
class Expression {
  readonly names: Record<string, string> = {};
  readonly values: Item = {};
  private n = 0;

  name(name: string): string {
    const key = `#n${this.n++}`;
    this.names[key] = name;
    return key;
  }

  value(value: unknown): string {
    const key = `:v${this.n++}`;
    this.values[key] = value;
    return key;
  }

  /** ExpressionAttributeNames/Values, left out when empty (DynamoDB refuses empty maps). */
  attributes(): { ExpressionAttributeNames?: Record<string, string>; ExpressionAttributeValues?: Item } {
    return {
      ...(Object.keys(this.names).length > 0 ? { ExpressionAttributeNames: this.names } : {}),
      ...(Object.keys(this.values).length > 0 ? { ExpressionAttributeValues: this.values } : {}),
    };
  }
}

/**
 * Sites in the sites table (pk siteId): the definition, the reaper's pilot census, the last status
 * change and its version, the test task; and the side items above. A handful of items: list() scans.
 */
export class DynamoDbSiteStore implements SiteStore {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;

  constructor(client: DynamoDBDocumentClient, tableName: string) {
    this.client = client;
    this.tableName = tableName;
  }

  /** Sets the definition's fields only, so the census, status history and test task survive a redefinition. */
  async put(
    site: Site,
    options?: { expected: StatusExpectation; change?: StatusChange },
  ): Promise<'ok' | 'conflict'> {
    const { siteId, ...definition } = site;
    const x = new Expression();
    // With a change, the status is written by the change.
    const sets = Object.entries(definition)
      .filter(([field]) => options?.change === undefined || field !== 'status')
      .map(([field, value]) => `${x.name(field)} = ${x.value(value)}`);
    const removes = DEFINITION_FIELDS.filter((field) => !(field in definition)).map((field) => x.name(field));
    const condition = options === undefined ? undefined : expectationCondition(x, options.expected);
    if (options?.change !== undefined) {
      return this.writeStatusChange(siteId, x, { sets, removes, condition }, options.change, undefined);
    }
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { siteId },
          UpdateExpression: updateExpression(sets, removes),
          ...(condition === undefined ? {} : { ConditionExpression: condition }),
          ...x.attributes(),
        }),
      );
      return 'ok';
    } catch (error) {
      if (errorName(error) === CONDITION_FAILED) return 'conflict';
      rethrowSdkError(error, 'put site');
    }
  }

  async get(siteId: string): Promise<SiteRecord | undefined> {
    const item = await this.getItem(siteId, 'get site');
    return item as SiteRecord | undefined;
  }

  async list(): Promise<SiteRecord[]> {
    const sites: SiteRecord[] = [];
    let startKey: Record<string, unknown> | undefined;
    try {
      do {
        const out: ScanCommandOutput = await this.client.send(
          new ScanCommand({ TableName: this.tableName, ExclusiveStartKey: startKey }),
        );
        for (const item of out.Items ?? []) {
          if (!String(item.siteId).includes('#')) sites.push(item as SiteRecord);
        }
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
      if (errorName(error) === CONDITION_FAILED) return;
      rethrowSdkError(error, 'record pilot census');
    }
  }

  /**
   * The decision on the site's item (if the site exists), then, when noteworthy, the history item
   * rewritten: one provisioner runs at a time (a scheduled function), so no fence is needed.
   */
  async recordProvisioning(siteId: string, decision: ProvisioningDecision): Promise<void> {
    let last: ProvisioningDecision | undefined;
    try {
      const out = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { siteId },
          UpdateExpression: 'SET #provisioned = :decision',
          ConditionExpression: 'attribute_exists(siteId)',
          ExpressionAttributeNames: { '#provisioned': 'provisioned' },
          ExpressionAttributeValues: { ':decision': decision },
          ReturnValues: 'UPDATED_OLD',
        }),
      );
      last = out.Attributes?.provisioned as ProvisioningDecision | undefined;
    } catch (error) {
      if (errorName(error) === CONDITION_FAILED) return;
      rethrowSdkError(error, 'record provisioning decision');
    }
    if (!isNoteworthyDecision(decision, last)) return;
    const history = [...(await this.provisioningHistory(siteId)), decision].slice(-PROVISIONING_HISTORY_MAX);
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { siteId: PROVISIONING_KEY(siteId), decisions: history },
        }),
      );
    } catch (error) {
      rethrowSdkError(error, 'record provisioning history');
    }
  }

  async provisioningHistory(siteId: string): Promise<ProvisioningDecision[]> {
    const item = await this.getItem(PROVISIONING_KEY(siteId), 'read provisioning history');
    return (item?.decisions as ProvisioningDecision[] | undefined) ?? [];
  }

  async changeStatus(
    siteId: string,
    expected: { status: SiteStatus; version: number },
    change: StatusChange,
    testTask?: TestTaskState,
  ): Promise<'ok' | 'conflict'> {
    const x = new Expression();
    const condition = expectationCondition(x, expected);
    return this.writeStatusChange(siteId, x, { sets: [], removes: [], condition }, change, testTask);
  }

  async setTestTask(
    siteId: string,
    expected: { version: number; testTask: TestTaskState | undefined },
    testTask: TestTaskState,
  ): Promise<'ok' | 'conflict'> {
    const x = new Expression();
    const conditions = ['attribute_exists(siteId)', versionCondition(x, expected.version)];
    const current = expected.testTask;
    const task = x.name('testTask');
    if (current === undefined) conditions.push(`attribute_not_exists(${task})`);
    else {
      conditions.push(`${task}.${x.name('taskId')} = ${x.value(current.taskId)}`);
      conditions.push(`${task}.${x.name('failures')} = ${x.value(current.failures)}`);
      const failedAt = `${task}.${x.name('failedAt')}`;
      conditions.push(
        current.failedAt === undefined
          ? `attribute_not_exists(${failedAt})`
          : `${failedAt} = ${x.value(current.failedAt)}`,
      );
    }
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { siteId },
          UpdateExpression: `SET ${x.name('testTask')} = ${x.value(testTask)}`,
          ConditionExpression: conditions.join(' AND '),
          ...x.attributes(),
        }),
      );
      return 'ok';
    } catch (error) {
      if (errorName(error) === CONDITION_FAILED) return 'conflict';
      rethrowSdkError(error, 'record test task');
    }
  }

  async history(siteId: string): Promise<StatusChange[]> {
    const item = await this.getItem(HISTORY_KEY(siteId), 'read site history');
    return (item?.changes as StatusChange[] | undefined) ?? [];
  }

  async addOutcomes(
    siteId: string,
    feed: string,
    entries: OutcomeEntry[],
    options: { at: string; keepFrom: string },
  ): Promise<void> {
    await this.updateBook(siteId, 'count site outcomes', (book) =>
      bookOutcomes(book, feed, entries, options),
    );
  }

  async addUnhealthyPilot(
    siteId: string,
    pilotId: string,
    entry: { at: string; bucket: string },
    options: { keepFrom: string },
  ): Promise<void> {
    await this.updateBook(siteId, 'count unhealthy pilot', (book) =>
      bookUnhealthyPilot(book, pilotId, entry, options),
    );
  }

  async outcomes(siteId: string): Promise<SiteOutcomes> {
    const { since, buckets } = (await this.readBook(siteId)).book;
    return { ...(since === undefined ? {} : { since }), buckets };
  }

  /**
   * One status change in one transaction, fenced by `condition`: the site's item (with `sets` and
   * `removes` of a definition, if any), its history (read first; the site's status version, which
   * every change bumps under its fence, serialises writers of the history) and its outcomes,
   * started again.
   */
  private async writeStatusChange(
    siteId: string,
    x: Expression,
    update: { sets: string[]; removes: string[]; condition: string | undefined },
    change: StatusChange,
    testTask: TestTaskState | undefined,
  ): Promise<'ok' | 'conflict'> {
    const history = [...(await this.history(siteId)), change].slice(-SITE_HISTORY_MAX);
    const sets = [
      ...update.sets,
      `${x.name('status')} = ${x.value(change.to)}`,
      `${x.name('statusChange')} = ${x.value(change)}`,
      `${x.name('statusVersion')} = if_not_exists(${x.name('statusVersion')}, ${x.value(0)}) + ${x.value(1)}`,
      ...(testTask === undefined ? [] : [`${x.name('testTask')} = ${x.value(testTask)}`]),
    ];
    const removes = [...update.removes, ...(testTask === undefined ? [x.name('testTask')] : [])];
    try {
      await this.client.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: this.tableName,
                Key: { siteId },
                UpdateExpression: updateExpression(sets, removes),
                ...(update.condition === undefined ? {} : { ConditionExpression: update.condition }),
                ...x.attributes(),
              },
            },
            {
              Put: { TableName: this.tableName, Item: { siteId: HISTORY_KEY(siteId), changes: history } },
            },
            {
              // Outcomes start again; the version makes a concurrent count read before this one write again.
              Update: {
                TableName: this.tableName,
                Key: { siteId: OUTCOMES_KEY(siteId) },
                UpdateExpression: 'SET #since = :at, #buckets = :none ADD #version :one',
                ExpressionAttributeNames: { '#since': 'since', '#buckets': 'buckets', '#version': 'version' },
                ExpressionAttributeValues: { ':at': change.at, ':none': {}, ':one': 1 },
              },
            },
          ],
        }),
      );
      return 'ok';
    } catch (error) {
      if (errorName(error) === 'TransactionCanceledException') {
        const reasons =
          (error as { CancellationReasons?: Array<{ Code?: string }> }).CancellationReasons ?? [];
        if (reasons[0]?.Code === 'ConditionalCheckFailed') return 'conflict';
      }
      rethrowSdkError(error, 'change site status');
    }
  }

  /**
   * Read, change, write back if no one wrote in between (the item's version), again if someone did.
   * Each feed shard is consumed by one function at a time, so contention is rare.
   */
  private async updateBook(
    siteId: string,
    what: string,
    change: (book: OutcomeBook) => OutcomeBook | undefined,
  ): Promise<void> {
    for (let tries = 1; ; tries++) {
      const { book, version } = await this.readBook(siteId);
      const next = change(book);
      if (next === undefined) return;
      try {
        await this.client.send(
          new PutCommand({
            TableName: this.tableName,
            Item: { siteId: OUTCOMES_KEY(siteId), ...next, version: (version ?? 0) + 1 },
            ...(version === undefined
              ? { ConditionExpression: 'attribute_not_exists(siteId)' }
              : {
                  ConditionExpression: '#version = :version',
                  ExpressionAttributeNames: { '#version': 'version' },
                  ExpressionAttributeValues: { ':version': version },
                }),
          }),
        );
        return;
      } catch (error) {
        if (errorName(error) !== CONDITION_FAILED || tries >= OUTCOME_WRITE_TRIES)
          rethrowSdkError(error, what);
      }
    }
  }

  private async readBook(siteId: string): Promise<{ book: OutcomeBook; version: number | undefined }> {
    const item = await this.getItem(OUTCOMES_KEY(siteId), 'read site outcomes');
    if (item === undefined) return { book: emptyOutcomeBook(), version: undefined };
    const book: OutcomeBook = {
      ...(typeof item.since === 'string' ? { since: item.since } : {}),
      buckets: (item.buckets as OutcomeBook['buckets'] | undefined) ?? {},
      feeds: (item.feeds as OutcomeBook['feeds'] | undefined) ?? {},
      pilots: (item.pilots as OutcomeBook['pilots'] | undefined) ?? {},
    };
    return { book, version: typeof item.version === 'number' ? item.version : 0 };
  }

  private async getItem(siteId: string, what: string): Promise<Item | undefined> {
    try {
      const out = await this.client.send(
        new GetCommand({ TableName: this.tableName, Key: { siteId }, ConsistentRead: true }),
      );
      return out.Item;
    } catch (error) {
      rethrowSdkError(error, what);
    }
  }
}

function updateExpression(sets: string[], removes: string[]): string {
  return [
    ...(sets.length > 0 ? [`SET ${sets.join(', ')}`] : []),
    ...(removes.length > 0 ? [`REMOVE ${removes.join(', ')}`] : []),
  ].join(' ');
}

function versionCondition(x: Expression, version: number): string {
  const name = x.name('statusVersion');
  return version === 0 ? `attribute_not_exists(${name})` : `${name} = ${x.value(version)}`;
}

/** The condition that the site is absent, or at the status and status version expected. */
function expectationCondition(x: Expression, expected: StatusExpectation): string {
  if (expected === 'absent') return 'attribute_not_exists(siteId)';
  return `attribute_exists(siteId) AND ${x.name('status')} = ${x.value(expected.status)} AND ${versionCondition(x, expected.version)}`;
}
