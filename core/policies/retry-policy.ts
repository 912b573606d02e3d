import type { ResourceOverride } from '../jobs/job.ts';
import { PILOT_ERROR_CODES } from '../pilots/pilot-error-codes.ts';
import type { Resources } from '../tasks/task-spec.ts';
import {
  chooseRule,
  type Failure,
  type RetryAction,
  type RetryingAction,
  type RetryRuleSet,
} from './retry-rules.ts';

export type AttemptDecision =
  | { event: 'finish' }
  | { event: 'cancel' }
  | { event: 'fail'; failures: number; systemRetries: number; rule: number | 'otherwise' }
  | {
      event: 'retry';
      failures: number;
      systemRetries: number;
      rule: number | 'otherwise';
      action: RetryingAction;
    };

/**
 * What happens to a job when an attempt ends. Success finishes it; a cancelled task (or job)
 * cancels it; a failure is decided by the first matching rule of the rule set. A retry spends one
 * of the task's maxAttempts unless its action says `spendsAttempt: false` (infrastructure errors);
 * those are bounded by the rule set's systemRetryLimit, past which they spend attempts like any
 * failure. Event-service consumers are exempt from that limit: they are replaced while ranges
 * remain, and every range has its own maxRangeAttempts.
 */
export function decideAttempt(input: {
  failure: Failure;
  failures: number;
  systemRetries: number;
  maxAttempts: number;
  taskCancelled: boolean;
  consumer?: boolean;
  /** A site's test job: an infrastructure failure is the test's verdict on the site, not retried for free. */
  siteTest?: boolean;
  rules: RetryRuleSet;
}): AttemptDecision {
  const { failure, failures, systemRetries, maxAttempts, taskCancelled, rules } = input;
  if (failure.pilotErrorCode === PILOT_ERROR_CODES.OK) return { event: 'finish' };
  if (taskCancelled || failure.pilotErrorCode === PILOT_ERROR_CODES.CANCELLED) return { event: 'cancel' };
  const { rule, action } = chooseRule(rules, failure);
  if (action.type === 'no-retry') return { event: 'fail', failures: failures + 1, systemRetries, rule };
  const free =
    !action.spendsAttempt &&
    input.siteTest !== true &&
    (input.consumer === true || systemRetries < rules.systemRetryLimit);
  if (free) return { event: 'retry', failures, systemRetries: systemRetries + 1, rule, action };
  const used = failures + 1;
  return used < maxAttempts
    ? { event: 'retry', failures: used, systemRetries, rule, action }
    : { event: 'fail', failures: used, systemRetries, rule };
}

/** A task's own retry factors, which win over the rule's (1: do not raise). */
export interface TaskRetryFactors {
  memoryFactor?: number | undefined;
  walltimeFactor?: number | undefined;
}

/**
 * Retry with more memory or time (the most requested feature of CRAB, WMAgent and HTCondor users):
 * a `retry-memory` or `retry-walltime` action raises that resource by its factor — the task's own
 * factor when its spec gives one — rounded up (memory to 100 MB), and capped by the action's
 * ceiling and by what one slot of the job's site offers. Undefined when nothing can grow.
 */
export function escalateResources(input: {
  action: RetryAction;
  current: { memoryMB: number; walltimeSec: number };
  taskFactors: TaskRetryFactors;
  slot: { memoryMB: number; walltimeSec: number } | undefined;
}): ResourceOverride | undefined {
  const { action, current, taskFactors, slot } = input;
  if (action.type === 'retry-memory') {
    const factor = taskFactors.memoryFactor ?? action.factor;
    const wanted = Math.ceil((current.memoryMB * factor) / 100) * 100;
    const memoryMB = Math.min(wanted, action.ceilingMB ?? wanted, slot?.memoryMB ?? wanted);
    return memoryMB > current.memoryMB ? { memoryMB } : undefined;
  }
  if (action.type === 'retry-walltime') {
    const factor = taskFactors.walltimeFactor ?? action.factor;
    const wanted = Math.ceil(current.walltimeSec * factor);
    const walltimeSec = Math.min(wanted, action.ceilingSec ?? wanted, slot?.walltimeSec ?? wanted);
    return walltimeSec > current.walltimeSec ? { walltimeSec } : undefined;
  }
  return undefined;
}

/**
 * The site a `retry-other-site` sends the next attempt to: the first of the task's brokered sites
 * after the current one (in brokerage order, wrapping round) that `usable` accepts, so a job that
 * keeps failing goes round them; the current site when no other will do.
 */
export function otherSite(
  siteIds: readonly string[],
  current: string,
  usable: (siteId: string) => boolean,
): string {
  const at = siteIds.indexOf(current);
  for (let step = 1; step <= siteIds.length; step++) {
    const siteId = siteIds[(at + step + siteIds.length) % siteIds.length] as string;
    if (siteId !== current && usable(siteId)) return siteId;
  }
  return current;
}

/** The resources an attempt of this job gets: the task's, with the job's retry overrides. */
export function effectiveResources(
  spec: Resources,
  job: { resources?: ResourceOverride } | undefined,
): Resources {
  return job?.resources === undefined ? spec : { ...spec, ...job.resources };
}
