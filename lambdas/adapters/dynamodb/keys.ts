/** Sort keys, index keys and shard names of the Gluon tables (see tables.ts). */
import type { JobState } from '#core/jobs/job.ts';
import { LEASED_JOB_STATES } from '#core/jobs/job.ts';
import type { JobCounts } from '#core/tasks/task.ts';
import { emptyJobCounts } from '#core/tasks/task.ts';
import { COUNTER_SHARDS, LEASE_SHARDS } from './tables.ts';

/** Sort key of the task item in the tasks table. */
export const TASK_SK = 'task';
export const COUNTER_SK_PREFIX = 'counts#';

/** Job states with a counter; `defined` and `queued` are derived from jobCount and jobsEnqueued. */
export const COUNTED_JOB_STATES = ['starting', 'running', 'finished', 'failed', 'cancelled'] as const;
export type CountedJobState = (typeof COUNTED_JOB_STATES)[number];

export function isCounted(state: JobState): state is CountedJobState {
  return (COUNTED_JOB_STATES as readonly JobState[]).includes(state);
}

/** `counts#NN`, NN = jobIndex % 16 on two digits. */
export function counterSk(jobIndex: number): string {
  return `${COUNTER_SK_PREFIX}${String(jobIndex % COUNTER_SHARDS).padStart(2, '0')}`;
}

/** `${state}#${jobIndex:08}`: the byTaskState sort key. */
export function stateIndexOf(state: JobState, jobIndex: number): string {
  return `${state}#${String(jobIndex).padStart(8, '0')}`;
}

/**
 * `lease#N`, N = jobIndex % 8: the byLease partition key, present only while the job holds a lease:
 * the run lease of a pilot (starting, running) or the dispatch lease of a queued job (how long its
 * message may go unclaimed before the reaper sends it again).
 */
export function leaseShardOf(jobIndex: number): string {
  return `lease#${jobIndex % LEASE_SHARDS}`;
}

export function allLeaseShards(): string[] {
  return Array.from({ length: LEASE_SHARDS }, (_, i) => `lease#${i}`);
}

export function isLeased(state: JobState): boolean {
  return state === 'queued' || LEASED_JOB_STATES.has(state);
}

/**
 * A task's job counts from its counter items: counted states are summed; `defined` is what was
 * not enqueued yet and `queued` is what was enqueued and is in no counted state.
 */
export function deriveJobCounts(
  task: { jobCount: number; jobsEnqueued: number },
  counterItems: ReadonlyArray<Record<string, unknown>>,
): JobCounts {
  const counts = emptyJobCounts();
  for (const item of counterItems) {
    for (const state of COUNTED_JOB_STATES) {
      const value = item[state];
      if (typeof value === 'number') counts[state] += value;
    }
  }
  const inCountedStates = COUNTED_JOB_STATES.reduce((sum, state) => sum + counts[state], 0);
  counts.defined = Math.max(0, task.jobCount - task.jobsEnqueued);
  counts.queued = Math.max(0, task.jobsEnqueued - inCountedStates);
  return counts;
}
