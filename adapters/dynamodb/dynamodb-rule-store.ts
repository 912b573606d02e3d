import {
  BatchGetCommand,
  type DynamoDBDocumentClient,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { Page, PageRequest } from '#core/api/common.ts';
import type { RuleStore } from '#core/transfers/ports.ts';
import type { Lock, Rule } from '#core/transfers/rule.ts';
import { errorName, rethrowSdkError } from '../sdk-errors.ts';
import { batchPut } from './batch-put.ts';
import { consistentGet } from './consistent-get.ts';
import { decodePageToken, encodePageToken } from './page-token.ts';

const CONDITION_FAILED = 'ConditionalCheckFailedException';
const CANCELED = 'TransactionCanceledException';
const BATCH_GET_MAX = 100;

/**
 * Rules in the catalog table (keys apart from the catalog's own, see dynamodb-catalog-store.ts):
 * - `rule#<ruleId>` / `rule`: the rule, with its counters;
 * - `rule#<ruleId>` / `lock#<scope:name>#<endpointId>`: its locks (the rule's partition: one query);
 * - `rules#all` / `<ruleId>` and `rules#owner#<owner>` / `<ruleId>`: listing items (owner, did), so
 *   listing a user's rules, or everyone's, is one query.
 */
const rulePk = (ruleId: string) => `rule#${ruleId}`;
const HEAD_SK = 'rule';
const lockSk = (file: { scope: string; name: string }, endpointId: string) =>
  `lock#${file.scope}:${file.name}#${endpointId}`;
const ALL_RULES_PK = 'rules#all';
const ownerPk = (owner: string) => `rules#owner#${owner}`;

type Item = Record<string, unknown>;

function strip(item: Item): Item {
  const { pk: _pk, sk: _sk, kind: _kind, ...rest } = item;
  return rest;
}

/** Rules and locks as items of the catalog table. Every change is conditional. */
export class DynamoDbRuleStore implements RuleStore {
  private readonly db: DynamoDBDocumentClient;
  private readonly tableName: string;

  constructor(db: DynamoDBDocumentClient, tableName: string) {
    this.db = db;
    this.tableName = tableName;
  }

  async createRule(rule: Rule, locks: Lock[]): Promise<boolean> {
    const listing = { ruleId: rule.ruleId, owner: rule.owner, did: rule.did, kind: 'rule-listing' };
    try {
      await this.db.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.tableName,
                Item: { pk: rulePk(rule.ruleId), sk: HEAD_SK, kind: 'rule', ...rule },
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
            { Put: { TableName: this.tableName, Item: { pk: ALL_RULES_PK, sk: rule.ruleId, ...listing } } },
            {
              Put: {
                TableName: this.tableName,
                Item: { pk: ownerPk(rule.owner), sk: rule.ruleId, ...listing },
              },
            },
          ],
        }),
      );
    } catch (error) {
      if (errorName(error) === CANCELED && cancellationCodes(error)[0] === 'ConditionalCheckFailed')
        return false;
      rethrowSdkError(error, 'create rule');
    }
    // After the head: a second create of the same id (refused above) never overwrites the locks.
    await batchPut(
      this.db,
      this.tableName,
      locks.map((lock) => ({
        pk: rulePk(lock.ruleId),
        sk: lockSk(lock, lock.endpointId),
        kind: 'lock',
        ...lock,
      })),
      'put rule locks',
    );
    return true;
  }

  async getRule(ruleId: string): Promise<Rule | undefined> {
    const item = await this.get(rulePk(ruleId), HEAD_SK, 'get rule');
    return item === undefined ? undefined : (strip(item) as unknown as Rule);
  }

  async listRules(filter: { owner?: string; did?: string }, page: PageRequest): Promise<Page<Rule>> {
    const pk = filter.owner === undefined ? ALL_RULES_PK : ownerPk(filter.owner);
    let out: { Items?: Item[]; LastEvaluatedKey?: Record<string, unknown> };
    try {
      out = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk',
          ...(filter.did === undefined
            ? { ExpressionAttributeValues: { ':pk': pk } }
            : {
                FilterExpression: 'did = :did',
                ExpressionAttributeValues: { ':pk': pk, ':did': filter.did },
              }),
          ScanIndexForward: false,
          Limit: page.limit,
          ...(page.nextToken === undefined
            ? {}
            : { ExclusiveStartKey: decodePageToken(page.nextToken, { pk: 'S', sk: 'S' }, { pk }) }),
        }),
      );
    } catch (error) {
      rethrowSdkError(error, 'list rules');
    }
    const ids = (out.Items ?? []).map((i) => String(i.sk));
    const heads = await this.heads(ids);
    const nextToken = encodePageToken(out.LastEvaluatedKey);
    return {
      items: ids.flatMap((id) => {
        const rule = heads.get(id);
        return rule === undefined ? [] : [rule];
      }),
      ...(nextToken === undefined ? {} : { nextToken }),
    };
  }

  async deleteRule(ruleId: string, at: string): Promise<boolean> {
    return this.update(
      {
        Key: { pk: rulePk(ruleId), sk: HEAD_SK },
        UpdateExpression: 'SET #state = :deleted, updatedAt = :at',
        ConditionExpression: 'attribute_exists(pk) AND #state <> :deleted',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: { ':deleted': 'deleted', ':at': at },
      },
      'delete rule',
    );
  }

  async getLock(
    ruleId: string,
    file: { scope: string; name: string },
    endpointId: string,
  ): Promise<Lock | undefined> {
    const item = await this.get(rulePk(ruleId), lockSk(file, endpointId), 'get lock');
    return item === undefined ? undefined : (strip(item) as unknown as Lock);
  }

  async listLocks(ruleId: string, page: PageRequest): Promise<Page<Lock>> {
    const pk = rulePk(ruleId);
    try {
      const out = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :lock)',
          ExpressionAttributeValues: { ':pk': pk, ':lock': 'lock#' },
          Limit: page.limit,
          ...(page.nextToken === undefined
            ? {}
            : { ExclusiveStartKey: decodePageToken(page.nextToken, { pk: 'S', sk: 'S' }, { pk }) }),
        }),
      );
      const nextToken = encodePageToken(out.LastEvaluatedKey);
      return {
        items: (out.Items ?? []).map((i) => strip(i) as unknown as Lock),
        ...(nextToken === undefined ? {} : { nextToken }),
      };
    } catch (error) {
      rethrowSdkError(error, 'list locks');
    }
  }

  async finishLock(
    lock: Lock,
    outcome: 'available' | 'failed',
    at: string,
    reason?: string,
  ): Promise<boolean> {
    try {
      await this.db.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: this.tableName,
                Key: { pk: rulePk(lock.ruleId), sk: lockSk(lock, lock.endpointId) },
                UpdateExpression: `SET #state = :to, updatedAt = :at${reason === undefined ? ' REMOVE reason' : ', reason = :reason'}`,
                ConditionExpression: '#state = :copying AND attempt = :attempt',
                ExpressionAttributeNames: { '#state': 'state' },
                ExpressionAttributeValues: {
                  ':to': outcome,
                  ':at': at,
                  ':copying': 'copying',
                  ':attempt': lock.attempt,
                  ...(reason === undefined ? {} : { ':reason': reason }),
                },
              },
            },
            {
              // The counters move in the same transaction as the lock: once per lock.
              Update: {
                TableName: this.tableName,
                Key: { pk: rulePk(lock.ruleId), sk: HEAD_SK },
                UpdateExpression:
                  'SET counters.copying = counters.copying - :one, counters.#to = counters.#to + :one, updatedAt = :at',
                ConditionExpression: 'attribute_exists(pk)',
                ExpressionAttributeNames: { '#to': outcome },
                ExpressionAttributeValues: { ':one': 1, ':at': at },
              },
            },
          ],
        }),
      );
      return true;
    } catch (error) {
      if (errorName(error) === CANCELED && cancellationCodes(error).includes('ConditionalCheckFailed'))
        return false;
      rethrowSdkError(error, 'finish lock');
    }
  }

  async retryLock(lock: Lock, at: string, reason: string): Promise<boolean> {
    return this.update(
      {
        Key: { pk: rulePk(lock.ruleId), sk: lockSk(lock, lock.endpointId) },
        UpdateExpression: 'SET attempt = :next, updatedAt = :at, reason = :reason',
        ConditionExpression: '#state = :copying AND attempt = :attempt',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: {
          ':next': lock.attempt + 1,
          ':at': at,
          ':reason': reason,
          ':copying': 'copying',
          ':attempt': lock.attempt,
        },
      },
      'retry lock',
    );
  }

  async settleRule(ruleId: string, state: 'ok' | 'stuck', at: string): Promise<boolean> {
    return this.update(
      {
        Key: { pk: rulePk(ruleId), sk: HEAD_SK },
        UpdateExpression: 'SET #state = :to, updatedAt = :at',
        ConditionExpression: '#state = :replicating AND counters.copying = :zero',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: { ':to': state, ':at': at, ':replicating': 'replicating', ':zero': 0 },
      },
      'settle rule',
    );
  }

  private async heads(ids: string[]): Promise<Map<string, Rule>> {
    const rules = new Map<string, Rule>();
    for (let i = 0; i < ids.length; i += BATCH_GET_MAX) {
      let keys: Item[] = ids.slice(i, i + BATCH_GET_MAX).map((id) => ({ pk: rulePk(id), sk: HEAD_SK }));
      for (let tries = 0; keys.length > 0 && tries < 8; tries++) {
        try {
          const out = await this.db.send(
            new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: keys, ConsistentRead: true } } }),
          );
          for (const item of out.Responses?.[this.tableName] ?? []) {
            const rule = strip(item) as unknown as Rule;
            rules.set(rule.ruleId, rule);
          }
          keys = (out.UnprocessedKeys?.[this.tableName]?.Keys ?? []) as Item[];
        } catch (error) {
          rethrowSdkError(error, 'get rules');
        }
      }
    }
    return rules;
  }

  private get(pk: string, sk: string, what: string): Promise<Item | undefined> {
    return consistentGet(this.db, this.tableName, { pk, sk }, what);
  }

  private async update(
    input: Omit<ConstructorParameters<typeof UpdateCommand>[0], 'TableName'>,
    what: string,
  ): Promise<boolean> {
    try {
      await this.db.send(new UpdateCommand({ TableName: this.tableName, ...input }));
      return true;
    } catch (error) {
      if (errorName(error) === CONDITION_FAILED) return false;
      rethrowSdkError(error, what);
    }
  }
}

function cancellationCodes(error: unknown): string[] {
  return ((error as { CancellationReasons?: Array<{ Code?: string }> }).CancellationReasons ?? []).map(
    (r) => r.Code ?? 'None',
  );
}
