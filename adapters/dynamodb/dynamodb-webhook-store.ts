import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { WebhookStore } from '#core/notifications/ports.ts';
import type { Delivery, Webhook } from '#core/notifications/webhook.ts';
import { errorName, rethrowSdkError } from '../sdk-errors.ts';
import { INDEX } from './tables.ts';

const CONDITION_FAILED = 'ConditionalCheckFailedException';
/** Deliveries are kept this long after they were made (then TTL removes them). */
const DELIVERY_RETENTION_SEC = 14 * 86_400;
/** The one partition of the sparse due index (pending deliveries are few: a handful per failing receiver). */
const DUE = 'pending';

const webhookSk = (webhookId: string) => `w#${webhookId}`;
const deliveryPrefix = (webhookId: string) => `d#${webhookId}#`;
const deliverySk = (webhookId: string, eventId: string) => `${deliveryPrefix(webhookId)}${eventId}`;

type Item = Record<string, unknown>;

function webhookOf(item: Item): Webhook {
  const { sk: _sk, ...rest } = item;
  return rest as unknown as Webhook;
}

function deliveryOf(item: Item): Delivery {
  const { sk: _sk, due: _due, expiresAt: _expiresAt, ...rest } = item;
  return rest as unknown as Delivery;
}

/**
 * Webhooks and deliveries in the webhooks table (pk owner; sk `w#<id>` or `d#<id>#<eventId>`),
 * pending deliveries also in the sparse `due` index by nextAttemptAt.
 */
export class DynamoDbWebhookStore implements WebhookStore {
  private readonly db: DynamoDBDocumentClient;
  private readonly tableName: string;

  constructor(db: DynamoDBDocumentClient, tableName: string) {
    this.db = db;
    this.tableName = tableName;
  }

  async create(webhook: Webhook): Promise<void> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...webhook, sk: webhookSk(webhook.webhookId) },
          ConditionExpression: 'attribute_not_exists(sk)',
        }),
      );
    } catch (error) {
      rethrowSdkError(error, 'create webhook');
    }
  }

  async get(owner: string, webhookId: string): Promise<Webhook | undefined> {
    try {
      const out = await this.db.send(
        new GetCommand({
          TableName: this.tableName,
          Key: { owner, sk: webhookSk(webhookId) },
          ConsistentRead: true,
        }),
      );
      return out.Item === undefined ? undefined : webhookOf(out.Item);
    } catch (error) {
      rethrowSdkError(error, 'get webhook');
    }
  }

  async list(owner: string): Promise<Webhook[]> {
    return (await this.query(owner, 'w#', { forward: true })).map(webhookOf);
  }

  async remove(owner: string, webhookId: string): Promise<boolean> {
    try {
      await this.db.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { owner, sk: webhookSk(webhookId) },
          ConditionExpression: 'attribute_exists(sk)',
        }),
      );
      return true;
    } catch (error) {
      if (errorName(error) === CONDITION_FAILED) return false;
      rethrowSdkError(error, 'remove webhook');
    }
  }

  async createDelivery(delivery: Delivery): Promise<boolean> {
    const expiresAt = Math.floor(Date.parse(delivery.createdAt) / 1000) + DELIVERY_RETENTION_SEC;
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...delivery,
            sk: deliverySk(delivery.webhookId, delivery.eventId),
            ...(delivery.status === 'pending' ? { due: DUE } : {}),
            expiresAt,
          },
          ConditionExpression: 'attribute_not_exists(sk)',
        }),
      );
      return true;
    } catch (error) {
      if (errorName(error) === CONDITION_FAILED) return false;
      rethrowSdkError(error, 'create webhook delivery');
    }
  }

  async getDelivery(owner: string, webhookId: string, eventId: string): Promise<Delivery | undefined> {
    try {
      const out = await this.db.send(
        new GetCommand({
          TableName: this.tableName,
          Key: { owner, sk: deliverySk(webhookId, eventId) },
          ConsistentRead: true,
        }),
      );
      return out.Item === undefined ? undefined : deliveryOf(out.Item);
    } catch (error) {
      rethrowSdkError(error, 'get webhook delivery');
    }
  }

  async startAttempt(delivery: Delivery, now: string, lostAt: string): Promise<boolean> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { owner: delivery.owner, sk: deliverySk(delivery.webhookId, delivery.eventId) },
          UpdateExpression: 'SET attempts = :next, nextAttemptAt = :lostAt, updatedAt = :now',
          ConditionExpression: '#status = :pending AND attempts = :attempts AND nextAttemptAt <= :now',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':next': delivery.attempts + 1,
            ':attempts': delivery.attempts,
            ':pending': 'pending',
            ':lostAt': lostAt,
            ':now': now,
          },
        }),
      );
      return true;
    } catch (error) {
      if (errorName(error) === CONDITION_FAILED) return false;
      rethrowSdkError(error, 'start webhook delivery attempt');
    }
  }

  async endAttempt(
    delivery: Pick<Delivery, 'owner' | 'webhookId' | 'eventId' | 'attempts'>,
    outcome: Parameters<WebhookStore['endAttempt']>[1],
  ): Promise<boolean> {
    const set = ['#status = :status', 'updatedAt = :at'];
    const remove: string[] = [];
    const values: Item = {
      ':status': outcome.status,
      ':at': outcome.at,
      ':attempts': delivery.attempts,
      ':pending': 'pending',
    };
    for (const field of ['lastStatus', 'lastError'] as const) {
      if (outcome[field] === undefined) remove.push(field);
      else {
        set.push(`${field} = :${field}`);
        values[`:${field}`] = outcome[field];
      }
    }
    if (outcome.status === 'pending' && outcome.nextAttemptAt !== undefined) {
      set.push('nextAttemptAt = :nextAttemptAt');
      values[':nextAttemptAt'] = outcome.nextAttemptAt;
    } else remove.push('nextAttemptAt', '#due');
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { owner: delivery.owner, sk: deliverySk(delivery.webhookId, delivery.eventId) },
          UpdateExpression: `SET ${set.join(', ')}${remove.length > 0 ? ` REMOVE ${remove.join(', ')}` : ''}`,
          ConditionExpression: '#status = :pending AND attempts = :attempts',
          ExpressionAttributeNames: {
            '#status': 'status',
            ...(remove.includes('#due') ? { '#due': 'due' } : {}),
          },
          ExpressionAttributeValues: values,
        }),
      );
      return true;
    } catch (error) {
      if (errorName(error) === CONDITION_FAILED) return false;
      rethrowSdkError(error, 'end webhook delivery attempt');
    }
  }

  async recentDeliveries(owner: string, webhookId: string, limit: number): Promise<Delivery[]> {
    return (await this.query(owner, deliveryPrefix(webhookId), { forward: false, limit })).map(deliveryOf);
  }

  async dueDeliveries(now: string, limit: number): Promise<Delivery[]> {
    try {
      const out = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: INDEX.webhookDeliveriesDue,
          KeyConditionExpression: '#due = :due AND nextAttemptAt <= :now',
          ExpressionAttributeNames: { '#due': 'due' },
          ExpressionAttributeValues: { ':due': DUE, ':now': now },
          Limit: limit,
        }),
      );
      return (out.Items ?? []).map(deliveryOf);
    } catch (error) {
      rethrowSdkError(error, 'list due webhook deliveries');
    }
  }

  /** Every item of the owner under a sort-key prefix (up to `limit`), in sort-key order or reversed. */
  private async query(
    owner: string,
    prefix: string,
    options: { forward: boolean; limit?: number },
  ): Promise<Item[]> {
    const items: Item[] = [];
    let start: Item | undefined;
    try {
      do {
        const out = await this.db.send(
          new QueryCommand({
            TableName: this.tableName,
            KeyConditionExpression: '#owner = :owner AND begins_with(sk, :prefix)',
            ExpressionAttributeNames: { '#owner': 'owner' },
            ExpressionAttributeValues: { ':owner': owner, ':prefix': prefix },
            ScanIndexForward: options.forward,
            ConsistentRead: true,
            ...(options.limit === undefined ? {} : { Limit: options.limit - items.length }),
            ...(start === undefined ? {} : { ExclusiveStartKey: start }),
          }),
        );
        items.push(...(out.Items ?? []));
        start = out.LastEvaluatedKey;
      } while (start !== undefined && (options.limit === undefined || items.length < options.limit));
      return items;
    } catch (error) {
      rethrowSdkError(error, 'query webhooks');
    }
  }
}
