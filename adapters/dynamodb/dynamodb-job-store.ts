import {
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  type QueryCommandOutput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { type Attempt, type JobRecord, jobIdOf } from '#core/jobs/job.ts';
import type { JobChange, JobExpectation, JobStore } from '#core/jobs/ports.ts';
import { errorName, rethrowSdkError } from '../sdk-errors.ts';
import { batchPut } from './batch-put.ts';

const CONDITION_FAILED = 'ConditionalCheckFailedException';

type Item = Record<string, unknown>;

function fromItem(item: Item): JobRecord {
  return item as unknown as JobRecord;
}

/** `SET`/`REMOVE` and the condition of one fenced job write. */
export function jobUpdateExpression(
  change: JobChange,
  expected: JobExpectation[],
): {
  UpdateExpression: string;
  ConditionExpression: string;
  ExpressionAttributeNames: Record<string, string>;
  ExpressionAttributeValues: Item;
} {
  const names: Record<string, string> = {};
  const values: Item = {};
  const sets: string[] = [];
  const removes: string[] = [];
  let n = 0;
  const name = (field: string): string => {
    const alias = `#f${n++}`;
    names[alias] = field;
    return alias;
  };
  for (const [field, value] of Object.entries(change.set)) {
    if (value === undefined) continue;
    const alias = name(field);
    values[`:v${n}`] = value;
    sets.push(`${alias} = :v${n}`);
  }
  for (const field of change.remove ?? []) {
    if (field in change.set) continue;
    removes.push(name(field));
  }
  names['#state'] = 'state';
  const alternatives = expected.map((e, i) => {
    if (e === 'absent') return 'attribute_not_exists(#state)';
    // Named only when used: DynamoDB refuses unused names (an expectation of 'absent' alone).
    names['#attempt'] = 'attempt';
    const parts = [`#state = :es${i}`, `#attempt = :ea${i}`];
    values[`:es${i}`] = e.state;
    values[`:ea${i}`] = e.attempt;
    if (e.pilotId !== undefined) {
      names['#pilotId'] = 'pilotId';
      values[`:ep${i}`] = e.pilotId;
      parts.push(`#pilotId = :ep${i}`);
    }
    if (e.siteId !== undefined) {
      names['#siteId'] = 'siteId';
      values[`:ez${i}`] = e.siteId;
      parts.push(`#siteId = :ez${i}`);
    }
    return `(${parts.join(' AND ')})`;
  });
  return {
    UpdateExpression: `SET ${sets.join(', ')}${removes.length > 0 ? ` REMOVE ${removes.join(', ')}` : ''}`,
    ConditionExpression: alternatives.join(' OR '),
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  };
}

/**
 * Job records (pk taskId, sk jobIndex), written by conditional updates only (one write each: no
 * transaction, no index), and the archive of ended attempts (pk jobId, sk attempt).
 */
export class DynamoDbJobStore implements JobStore {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;
  private readonly attemptsTableName: string;

  constructor(client: DynamoDBDocumentClient, tables: { jobs: string; attempts: string }) {
    this.client = client;
    this.tableName = tables.jobs;
    this.attemptsTableName = tables.attempts;
  }

  async get(taskId: string, jobIndex: number): Promise<JobRecord | undefined> {
    try {
      const out = await this.client.send(
        new GetCommand({ TableName: this.tableName, Key: { taskId, jobIndex }, ConsistentRead: true }),
      );
      return out.Item === undefined ? undefined : fromItem(out.Item);
    } catch (error) {
      rethrowSdkError(error, 'get job');
    }
  }

  async list(
    taskId: string,
    fromIndex: number,
    limit: number,
  ): Promise<{ records: JobRecord[]; more: boolean }> {
    const records: JobRecord[] = [];
    let startKey: Item | undefined;
    try {
      do {
        const out: QueryCommandOutput = await this.client.send(
          new QueryCommand({
            TableName: this.tableName,
            KeyConditionExpression: 'taskId = :t AND jobIndex >= :from',
            ExpressionAttributeValues: { ':t': taskId, ':from': fromIndex },
            ConsistentRead: true,
            Limit: limit - records.length,
            ExclusiveStartKey: startKey,
          }),
        );
        records.push(...(out.Items ?? []).map(fromItem));
        startKey = out.LastEvaluatedKey;
      } while (startKey !== undefined && records.length < limit);
    } catch (error) {
      rethrowSdkError(error, 'list jobs');
    }
    return { records, more: startKey !== undefined };
  }

  async update(
    key: { taskId: string; jobIndex: number },
    change: JobChange,
    expected: JobExpectation[],
  ): Promise<'ok' | 'conflict'> {
    try {
      await this.client.send(
        new UpdateCommand({ TableName: this.tableName, Key: key, ...jobUpdateExpression(change, expected) }),
      );
      return 'ok';
    } catch (error) {
      if (errorName(error) === CONDITION_FAILED) return 'conflict';
      rethrowSdkError(error, `write job ${jobIdOf(key.taskId, key.jobIndex)}`);
    }
  }

  async archiveAttempts(
    attempts: Array<{ taskId: string; jobIndex: number; attempt: Attempt }>,
  ): Promise<void> {
    const items = attempts.map(({ taskId, jobIndex, attempt }) => ({
      jobId: jobIdOf(taskId, jobIndex),
      ...attempt,
    }));
    await batchPut(this.client, this.attemptsTableName, items, 'archive attempts');
  }

  async attempts(taskId: string, jobIndex: number): Promise<Attempt[]> {
    const attempts: Attempt[] = [];
    let startKey: Item | undefined;
    try {
      do {
        const out: QueryCommandOutput = await this.client.send(
          new QueryCommand({
            TableName: this.attemptsTableName,
            KeyConditionExpression: 'jobId = :j',
            ExpressionAttributeValues: { ':j': jobIdOf(taskId, jobIndex) },
            ExclusiveStartKey: startKey,
          }),
        );
        for (const item of out.Items ?? []) {
          const { jobId: _jobId, ...attempt } = item;
          attempts.push(attempt as unknown as Attempt);
        }
        startKey = out.LastEvaluatedKey;
      } while (startKey !== undefined);
    } catch (error) {
      rethrowSdkError(error, 'list attempts');
    }
    return attempts.sort((a, b) => a.attempt - b.attempt);
  }
}
