import { isFinalJobState, type JobState, type RecordedJobState } from './job.ts';

/**
 * The job-count rules, in one place. Counters are kept per task from the change feed of job
 * records (one delta per record change, applied once per change); what has no record is derived:
 * `defined` jobs are not enqueued yet, and enqueued jobs without a record are queued.
 */
export type JobCounts = Record<JobState, number>;

/**
 * The counted facts: how many records exist, how many are in each recorded state, and how many
 * moves from a final state back to queued (a resubmit by the owner) were counted.
 */
export type JobCounters = Record<RecordedJobState | 'recorded' | 'resubmitted', number>;

export const COUNTER_NAMES: ReadonlyArray<keyof JobCounters> = [
  'recorded',
  'queued',
  'running',
  'finished',
  'failed',
  'cancelled',
  'resubmitted',
];

export function emptyJobCounts(): JobCounts {
  return { defined: 0, queued: 0, running: 0, finished: 0, failed: 0, cancelled: 0 };
}

export function emptyJobCounters(): JobCounters {
  return { recorded: 0, queued: 0, running: 0, finished: 0, failed: 0, cancelled: 0, resubmitted: 0 };
}

/** The counter moves of one record change (old → new; undefined when absent). Empty when nothing moves. */
export function counterDelta(
  before: { state: RecordedJobState } | undefined,
  after: { state: RecordedJobState } | undefined,
): Partial<JobCounters> {
  const delta: Partial<JobCounters> = {};
  const add = (name: keyof JobCounters, n: number) => {
    const value = (delta[name] ?? 0) + n;
    if (value === 0) delete delta[name];
    else delta[name] = value;
  };
  if (before === undefined && after !== undefined) add('recorded', 1);
  if (before !== undefined && after === undefined) add('recorded', -1);
  if (before !== undefined) add(before.state, -1);
  if (after !== undefined) add(after.state, 1);
  // Only a resubmit moves a final job back to queued; the task's end waits until each is counted.
  if (before !== undefined && isFinalJobState(before.state) && after?.state === 'queued')
    add('resubmitted', 1);
  return delta;
}

export function addCounters(into: JobCounters, delta: Partial<JobCounters>): JobCounters {
  for (const name of COUNTER_NAMES) into[name] += delta[name] ?? 0;
  return into;
}

export function isEmptyDelta(delta: Partial<JobCounters>): boolean {
  return COUNTER_NAMES.every((name) => (delta[name] ?? 0) === 0);
}

/**
 * A task's job counts. Once the task is cancelled, jobs that will never run (queued or not yet
 * enqueued) count as cancelled. Jobs a resubmit queued again (`jobsResubmitted`, from the task's
 * head) whose change the feed has not counted yet are counted queued, taken from the final states
 * (failed first, then cancelled, then finished: the change tells which, a second later), so a
 * task never looks ended while they wait.
 */
export function deriveJobCounts(
  task: { jobCount: number; jobsEnqueued: number; cancelRequested: boolean; jobsResubmitted?: number },
  counters: JobCounters,
): JobCounts {
  const counts: JobCounts = {
    defined: Math.max(0, task.jobCount - task.jobsEnqueued),
    queued: Math.max(0, task.jobsEnqueued - counters.recorded) + counters.queued,
    running: counters.running,
    finished: counters.finished,
    failed: counters.failed,
    cancelled: counters.cancelled,
  };
  let uncounted = Math.max(0, (task.jobsResubmitted ?? 0) - counters.resubmitted);
  for (const state of ['failed', 'cancelled', 'finished'] as const) {
    const moved = Math.min(uncounted, counts[state]);
    counts[state] -= moved;
    counts.queued += moved;
    uncounted -= moved;
  }
  if (task.cancelRequested) {
    counts.cancelled += counts.queued + counts.defined;
    counts.queued = 0;
    counts.defined = 0;
  }
  return counts;
}

/** True when no job of the task will change any more: every job final (a cancelled task: none running). */
export function allJobsFinal(
  task: { jobCount: number; cancelRequested: boolean },
  counts: JobCounts,
): boolean {
  if (task.cancelRequested) return counts.running === 0;
  return counts.finished + counts.failed + counts.cancelled >= task.jobCount;
}
