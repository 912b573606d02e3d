import type { ResourceOverride } from '../jobs/job.ts';
import type { Resources } from '../tasks/task-spec.ts';
import {
  decideAttempt,
  effectiveResources,
  escalateResources,
  type TaskRetryFactors,
} from './retry-policy.ts';
import type { Failure, RetryRuleSet } from './retry-rules.ts';

/** One recorded failed attempt of a job, as the replay walks it. */
export interface RecordedFailure extends Failure {
  attempt: number;
  siteId: string;
}

/** A job's recorded failures, oldest first, and what its task said of retries. */
export interface RecordedJob {
  taskId: string;
  jobIndex: number;
  failures: RecordedFailure[];
  resources: Resources;
  maxAttempts: number;
  taskFactors: TaskRetryFactors;
  /** An event-service consumer (exempt from the system retry limit). */
  consumer: boolean;
}

/** What one rule set does with one recorded failure. */
export interface ReplayStep {
  /** `stopped`: the job had already ended under these rules, so this failure would not have happened. */
  decision: 'retry' | 'fail' | 'stopped';
  rule?: number | 'otherwise';
  action?: string;
  spendsAttempt?: boolean;
  backoffSec?: number;
  /** What the next attempt would ask for (retries only). */
  next?: { memoryMB: number; walltimeSec: number };
}

export type ReplayOutcome = 'rescued' | 'stops-retrying' | 'changed' | 'same';

export interface JobReplay {
  taskId: string;
  jobIndex: number;
  outcome: ReplayOutcome;
  /** The first recorded failure the two rule sets decide differently, with both decisions. */
  first?: { failure: RecordedFailure; current: ReplayStep; proposed: ReplayStep };
  /** Memory and walltime the attempts after the recorded failures would ask for: proposed − current. */
  extraMemoryMB: number;
  extraWalltimeSec: number;
}

type SlotOf = (siteId: string) => { memoryMB: number; walltimeSec: number } | undefined;

/** Walks a job's recorded failures under one rule set, as endAttempt would have decided each. */
export function replaySteps(job: RecordedJob, rules: RetryRuleSet, slotOf: SlotOf): ReplayStep[] {
  let failures = 0;
  let systemRetries = 0;
  let override: ResourceOverride | undefined;
  const resources = () =>
    effectiveResources(job.resources, override === undefined ? undefined : { resources: override });
  let ended = false;
  return job.failures.map((failure): ReplayStep => {
    if (ended) return { decision: 'stopped' };
    const decision = decideAttempt({
      failure,
      failures,
      systemRetries,
      maxAttempts: job.maxAttempts,
      taskCancelled: false,
      consumer: job.consumer,
      rules,
    });
    if (decision.event !== 'retry') {
      ended = true;
      return decision.event === 'fail' ? { decision: 'fail', rule: decision.rule } : { decision: 'stopped' };
    }
    failures = decision.failures;
    systemRetries = decision.systemRetries;
    const { action } = decision;
    const escalated = escalateResources({
      action,
      current: resources(),
      taskFactors: job.taskFactors,
      slot: slotOf(failure.siteId),
    });
    if (escalated !== undefined) override = { ...override, ...escalated };
    const next = resources();
    return {
      decision: 'retry',
      rule: decision.rule,
      action: action.type,
      spendsAttempt: action.spendsAttempt,
      ...(action.backoffSec === undefined ? {} : { backoffSec: action.backoffSec }),
      next: { memoryMB: next.memoryMB, walltimeSec: next.walltimeSec },
    };
  });
}

/** Index of the first failure a rule set does not retry; the number of failures when it retries all. */
function stopIndex(steps: ReplayStep[]): number {
  const at = steps.findIndex((s) => s.decision !== 'retry');
  return at === -1 ? steps.length : at;
}

/** The parts of a decision that change what the job gets (not which rule said it). */
function sameStep(a: ReplayStep, b: ReplayStep): boolean {
  return (
    a.decision === b.decision &&
    a.action === b.action &&
    a.spendsAttempt === b.spendsAttempt &&
    a.backoffSec === b.backoffSec &&
    a.next?.memoryMB === b.next?.memoryMB &&
    a.next?.walltimeSec === b.next?.walltimeSec
  );
}

/**
 * A job's recorded failures under the current and the proposed rules. It is `rescued` when the
 * proposed rules retry a failure where the current ones give up (a job that failed for good, whose
 * last failure they would retry), `stops-retrying` when they give up earlier, `changed` when they
 * retry as often but differently (resources, back-off, site, attempts spent). What would have
 * happened after a decision that was not taken is unknown: the replay judges decisions, not outcomes.
 */
export function replayJob(
  job: RecordedJob,
  current: RetryRuleSet,
  proposed: RetryRuleSet,
  slotOf: SlotOf,
): JobReplay {
  const c = replaySteps(job, current, slotOf);
  const p = replaySteps(job, proposed, slotOf);
  const asked = (steps: ReplayStep[], what: 'memoryMB' | 'walltimeSec') =>
    steps.reduce((sum, s) => sum + (s.next?.[what] ?? 0), 0);
  const cStop = stopIndex(c);
  const pStop = stopIndex(p);
  const firstDiff = c.findIndex((step, i) => !sameStep(step, p[i] as ReplayStep));
  const outcome: ReplayOutcome =
    pStop > cStop ? 'rescued' : pStop < cStop ? 'stops-retrying' : firstDiff === -1 ? 'same' : 'changed';
  const failure = job.failures[firstDiff];
  return {
    taskId: job.taskId,
    jobIndex: job.jobIndex,
    outcome,
    ...(failure === undefined
      ? {}
      : { first: { failure, current: c[firstDiff] as ReplayStep, proposed: p[firstDiff] as ReplayStep } }),
    extraMemoryMB: asked(p, 'memoryMB') - asked(c, 'memoryMB'),
    extraWalltimeSec: asked(p, 'walltimeSec') - asked(c, 'walltimeSec'),
  };
}

export interface ReplaySummary {
  jobs: number;
  failures: number;
  jobsRescued: number;
  jobsStopRetrying: number;
  jobsChanged: number;
  extraMemoryMB: number;
  extraWalltimeSec: number;
}

/** The totals of many jobs' replays. */
export function summarizeReplays(jobs: readonly RecordedJob[], replays: readonly JobReplay[]): ReplaySummary {
  const count = (outcome: ReplayOutcome) => replays.filter((r) => r.outcome === outcome).length;
  return {
    jobs: jobs.length,
    failures: jobs.reduce((n, j) => n + j.failures.length, 0),
    jobsRescued: count('rescued'),
    jobsStopRetrying: count('stops-retrying'),
    jobsChanged: count('changed'),
    extraMemoryMB: replays.reduce((n, r) => n + r.extraMemoryMB, 0),
    extraWalltimeSec: replays.reduce((n, r) => n + r.extraWalltimeSec, 0),
  };
}
