/** Tasks, job records, pilots, leases and tables for the adapter tests. */
import { randomBytes } from 'node:crypto';
import { dynamoDbClient } from '#adapters/aws-clients.ts';
import { createTables, localTableNames, type TableNames } from '#adapters/dynamodb/tables.ts';
import { emptyRangeCounters } from '#core/event-ranges/range-counts.ts';
import type { JobRecord } from '#core/jobs/job.ts';
import { emptyJobCounts } from '#core/jobs/job-counts.ts';
import type { Pilot, PilotLease } from '#core/pilots/pilot.ts';
import type { Task } from '#core/tasks/task.ts';
import { TaskSpecSchema } from '#core/tasks/task-spec.ts';

export function newTaskId(): string {
  return `t-${randomBytes(8).toString('hex')}`;
}

export function newPilotId(): string {
  return `p-${randomBytes(8).toString('hex')}`;
}

/** A generation task of 10 jobs (1000 events, 100 per job), submitted. */
export function makeTask(overrides: Partial<Task> = {}): Task {
  const at = overrides.createdAt ?? new Date().toISOString();
  return {
    taskId: newTaskId(),
    owner: 'alice',
    name: 'mc-gen',
    spec: TaskSpecSchema.parse({
      name: 'mc-gen',
      payload: { command: 'generate', args: ['--events', '100'] },
      events: 1000,
      split: { eventsPerJob: 100 },
    }),
    state: 'submitted',
    jobCount: 10,
    jobsEnqueued: 0,
    counts: emptyJobCounts(),
    rangeCounters: emptyRangeCounters(),
    siteIds: [],
    cancelRequested: false,
    cancelSwept: false,
    createdAt: at,
    updatedAt: at,
    history: [{ state: 'submitted', at }],
    ...overrides,
  };
}

/** The fields of a job record a first claim writes (running, attempt 1, pilot `p-aaaaaa`). */
export function runningRecord(overrides: Partial<Omit<JobRecord, 'taskId' | 'jobIndex'>> = {}) {
  const at = '2026-11-25T10:00:00.000Z';
  return {
    state: 'running' as const,
    attempt: 1,
    failures: 0,
    siteId: 'site-a',
    pilotId: 'p-aaaaaa',
    host: 'wn01',
    startedAt: at,
    updatedAt: at,
    ...overrides,
  };
}

export function makePilot(overrides: Partial<Pilot> = {}): Pilot {
  return {
    pilotId: newPilotId(),
    siteId: 'site-a',
    host: 'wn01',
    pid: 4242,
    version: 'dev',
    resources: { cores: 4, memoryMB: 8000, diskMB: 20_000, walltimeLeftSec: 3600 },
    state: 'starting',
    registeredAt: '2026-11-25T10:00:00.000Z',
    ...overrides,
  };
}

export function makeLease(overrides: Partial<PilotLease> = {}): PilotLease {
  return {
    pilotId: newPilotId(),
    siteId: 'site-a',
    host: 'wn01',
    state: 'starting',
    expiresAt: Date.parse('2026-11-25T10:02:00.000Z'),
    jobs: [],
    kill: [],
    jobsRun: 0,
    beatAt: '2026-11-25T10:00:00.000Z',
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
