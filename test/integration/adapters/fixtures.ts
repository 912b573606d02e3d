/** Tasks, jobs and tables for the adapter tests. */
import { randomBytes } from 'node:crypto';
import { type Job, jobIdOf } from '#core/jobs/job.ts';
import { emptyJobCounts, type Task } from '#core/tasks/task.ts';
import { parseTaskSpec } from '#core/tasks/task-spec.ts';
import { dynamoDbClient } from '#adapters/aws-clients.ts';
import { createTables, localTableNames, type TableNames } from '#adapters/dynamodb/tables.ts';

export function newTaskId(): string {
  return `t-${randomBytes(8).toString('hex')}`;
}

export function makeTask(overrides: Partial<Task> = {}): Task {
  const at = overrides.createdAt ?? new Date().toISOString();
  return {
    taskId: newTaskId(),
    owner: 'alice',
    name: 'mc-gen',
    spec: parseTaskSpec({
      name: 'mc-gen',
      payload: { command: 'generate', args: ['--events', '100'] },
      events: 1000,
      split: { eventsPerJob: 100 },
    }),
    state: 'submitted',
    jobCount: 0,
    jobsEnqueued: 0,
    counts: emptyJobCounts(),
    siteIds: [],
    cancelRequested: false,
    createdAt: at,
    updatedAt: at,
    history: [{ state: 'submitted', at }],
    ...overrides,
  };
}

export function makeJob(taskId: string, jobIndex: number, overrides: Partial<Job> = {}): Job {
  const at = new Date().toISOString();
  return {
    taskId,
    jobIndex,
    jobId: jobIdOf(taskId, jobIndex),
    owner: 'alice',
    state: 'queued',
    attempt: 1,
    failures: 0,
    siteId: 'site-a',
    firstEvent: jobIndex * 100,
    nEvents: 100,
    createdAt: at,
    updatedAt: at,
    queuedAt: at,
    attempts: [],
    ...overrides,
  };
}

/** Creates fresh tables named `${prefix}tasks` etc. */
export async function freshTables(prefix: string): Promise<TableNames> {
  const names = localTableNames(prefix);
  const client = dynamoDbClient();
  try {
    await createTables(client, names);
  } finally {
    client.destroy();
  }
  return names;
}
