import type { Deps, Principal } from '../deps.ts';
import { ConflictError } from '../errors.ts';
import { cancelTask } from '../tasks/cancel-task.ts';
import { submitSystemTask } from '../tasks/submit-task.ts';
import { isFinalTaskState, type TaskState } from '../tasks/task.ts';
import { type TaskSpec, type TaskSpecInput, TaskSpecSchema } from '../tasks/task-spec.ts';
import {
  SITE_HEALTH,
  type Site,
  type SiteRecord,
  SiteTestSchema,
  type StatusChange,
  type TestTaskState,
} from './site.ts';
import {
  bucketOf,
  INFRA_KINDS,
  infraFailures,
  type OutcomeCounts,
  type OutcomeKind,
  outcomesFrom,
  type SiteOutcomes,
  totalOutcomes,
} from './site-outcomes.ts';

/** The owner of the test tasks site health submits. */
export const SITE_HEALTH_OWNER = `system:${SITE_HEALTH}` as const;
const SITE_HEALTH_PRINCIPAL: Principal = { sub: SITE_HEALTH_OWNER, scopes: [] };

/** What applies to a site whose definition does not say (`health` in the site definition). */
export interface HealthDefaults {
  maxInfraFailureFraction: number;
  minAttempts: number;
  /** How far back outcomes are judged (at most the outcomes kept, OUTCOME_RETENTION_SEC, less a bucket). */
  windowSec: number;
}

export const HEALTH_DEFAULTS: HealthDefaults = {
  maxInfraFailureFraction: 0.5,
  minAttempts: 5,
  windowSec: 3600,
};

/** What site health knows of a test task: its state, or that it is not found. */
export type TestTaskOutcome =
  | { state: TaskState; endedAt?: string; finished: number; jobCount: number; reason?: string }
  | 'missing';

export interface HealthInput {
  site: SiteRecord;
  /** The site's recent outcomes (those of an online site are judged). */
  outcomes?: SiteOutcomes;
  /** The state of the site's test task, when it has one. */
  testTask?: TestTaskOutcome;
  now: Date;
  defaults: HealthDefaults;
}

export type HealthAction =
  | { action: 'none' }
  /** online → test: too many infrastructure failures. A test task is sent at once. */
  | { action: 'exclude'; reason: string }
  /** A site in test (by site health) without a test task running: send one. */
  | { action: 'send-test'; failures: number }
  /** The test task is done: test → online. */
  | { action: 'restore'; reason: string }
  /** The test task ended without success: recorded, the next one after a back-off. */
  | { action: 'test-failed'; at: string }
  /** The test task ran too long: cancelled (then it fails as above). */
  | { action: 'cancel-test'; taskId: string };

/** The back-off before the test after `failures` failed test tasks in a row: doubled each time, at most ×8. */
export function testBackoffSec(site: Site, failures: number): number {
  const { backoffSec } = site.test ?? SiteTestSchema.parse({});
  return backoffSec * 2 ** (Math.min(Math.max(failures, 1), 4) - 1);
}

/** A site in test whose last move was site health's own (an operator's `test` is left alone). */
export function isTestedBySiteHealth(site: SiteRecord): boolean {
  return site.status === 'test' && site.statusChange?.by === SITE_HEALTH;
}

/**
 * Site health's decision for one site, from its recent outcomes and its test task (pure):
 * - an online site whose infrastructure failures (stage-in, lost heartbeats, abandoned claims,
 *   work directory, node checks) are more than the allowed fraction of its recent outcomes, with
 *   enough of them, goes to test;
 * - a site site health put in test gets a test task; when one is done, it goes back online; when one
 *   fails (or runs too long and is cancelled), another follows after a back-off;
 * - an offline site, a site an operator put in test and a site with `health.auto: false` are left
 *   alone: an operator's word wins.
 */
export function evaluateSiteHealth(input: HealthInput): HealthAction {
  const { site, now } = input;
  if (site.health?.auto === false) return { action: 'none' };
  if (site.status === 'online') return judgeOutcomes(input);
  if (!isTestedBySiteHealth(site)) return { action: 'none' };

  const current = site.testTask;
  if (current === undefined) return { action: 'send-test', failures: 0 };
  if (current.failedAt !== undefined) {
    const due = Date.parse(current.failedAt) + testBackoffSec(site, current.failures) * 1000;
    return now.getTime() >= due ? { action: 'send-test', failures: current.failures } : { action: 'none' };
  }
  const outcome = input.testTask;
  if (outcome === undefined || outcome === 'missing') return { action: 'test-failed', at: now.toISOString() };
  if (outcome.state === 'done') {
    return {
      action: 'restore',
      reason: `test task ${current.taskId} done: ${outcome.finished} of ${outcome.jobCount} test jobs finished`,
    };
  }
  if (isFinalTaskState(outcome.state))
    return { action: 'test-failed', at: outcome.endedAt ?? now.toISOString() };
  const { timeoutSec } = site.test ?? SiteTestSchema.parse({});
  if (now.getTime() - Date.parse(current.sentAt) > timeoutSec * 1000) {
    return { action: 'cancel-test', taskId: current.taskId };
  }
  return { action: 'none' };
}

function judgeOutcomes({ site, outcomes, now, defaults }: HealthInput): HealthAction {
  const fraction = site.health?.maxInfraFailureFraction ?? defaults.maxInfraFailureFraction;
  const minAttempts = site.health?.minAttempts ?? defaults.minAttempts;
  const counts = outcomesFrom(outcomes, bucketOf(new Date(now.getTime() - defaults.windowSec * 1000)));
  const total = totalOutcomes(counts);
  const infra = infraFailures(counts);
  if (total < minAttempts || infra <= fraction * total) return { action: 'none' };
  return {
    action: 'exclude',
    reason:
      `${infra} of ${total} recent attempts failed for infrastructure reasons (${infraBreakdown(counts)}) ` +
      `in the last ${Math.round(defaults.windowSec / 60)} min: above ${Math.round(fraction * 100)}%`,
  };
}

/** `stage-in 6, lost heartbeat 1`: the infrastructure failures by kind, largest first. */
export function infraBreakdown(counts: OutcomeCounts): string {
  return (Object.entries(INFRA_KINDS) as Array<[OutcomeKind, string]>)
    .filter(([kind]) => counts[kind] > 0)
    .sort(([a], [b]) => counts[b] - counts[a])
    .map(([kind, words]) => `${words} ${counts[kind]}`)
    .join(', ');
}

/**
 * The test task of a site, as a task spec (before defaults): `test.jobs` jobs of its payload, each
 * staging in its inputs, small enough for one slot of the site, sent only there, never retried
 * (a test must see the site as it is), first in line.
 */
export function siteTestSpecInput(site: Site): TaskSpecInput {
  const test = site.test ?? SiteTestSchema.parse({});
  const base = {
    name: `site-test-${site.siteId}`,
    payload: test.payload,
    resources: {
      cores: 1,
      memoryMB: Math.min(256, site.slot.memoryMB),
      walltimeSec: Math.min(600, site.slot.walltimeSec),
      diskMB: Math.min(1000, site.slot.diskMB),
    },
    priority: 1000,
    maxAttempts: 1,
    retry: { memoryFactor: 1, walltimeFactor: 1 },
    sites: { allow: [site.siteId] },
    siteTest: true as const,
  };
  if (test.inputs.length === 0) return { ...base, events: test.jobs, split: { eventsPerJob: 1 } };
  return {
    ...base,
    inputs: { files: Array.from({ length: test.jobs }, () => test.inputs).flat() },
    split: { filesPerJob: test.inputs.length },
  };
}

export function siteTestSpec(site: Site): TaskSpec {
  return TaskSpecSchema.parse(siteTestSpecInput(site));
}

export interface HealthReport {
  sitesChecked: number;
  sitesExcluded: number;
  sitesRestored: number;
  testsSent: number;
  testsFailed: number;
  /** Sites whose check failed this time (the next run tries again). */
  errors: Array<{ siteId: string; error: string }>;
}

type HealthDeps = Pick<Deps, 'sites' | 'tasks' | 'workflow' | 'clock' | 'ids' | 'policies'>;

/**
 * One run of site health over every site (a scheduled function): decides each site's action
 * (evaluateSiteHealth) and takes it. Every write is fenced on the site's status version (and its
 * test task), so an operator's change in between, or another run, makes it a no-op. A site whose
 * check fails does not stop the others.
 */
export async function checkSiteHealth(
  deps: HealthDeps,
  defaults: HealthDefaults = HEALTH_DEFAULTS,
): Promise<HealthReport> {
  const report: HealthReport = {
    sitesChecked: 0,
    sitesExcluded: 0,
    sitesRestored: 0,
    testsSent: 0,
    testsFailed: 0,
    errors: [],
  };
  for (const site of await deps.sites.list()) {
    if (site.status === 'offline' || site.health?.auto === false) continue;
    if (site.status === 'test' && !isTestedBySiteHealth(site)) continue;
    report.sitesChecked += 1;
    try {
      await checkSite(deps, site, defaults, report);
    } catch (error) {
      report.errors.push({ siteId: site.siteId, error: (error as Error).message });
    }
  }
  return report;
}

async function checkSite(
  deps: HealthDeps,
  site: SiteRecord,
  defaults: HealthDefaults,
  report: HealthReport,
): Promise<void> {
  const now = deps.clock.now();
  const at = now.toISOString();
  const version = site.statusVersion ?? 0;
  const decision = evaluateSiteHealth({
    site,
    now,
    defaults,
    ...(site.status === 'online' ? { outcomes: await deps.sites.outcomes(site.siteId) } : {}),
    ...(site.testTask === undefined || site.testTask.failedAt !== undefined
      ? {}
      : { testTask: await testTaskOutcome(deps, site.testTask.taskId) }),
  });
  const change = (to: 'test' | 'online', reason: string): StatusChange => ({
    at,
    from: site.status,
    to,
    reason,
    by: SITE_HEALTH,
  });

  switch (decision.action) {
    case 'none':
      return;
    case 'exclude': {
      const moved = await deps.sites.changeStatus(
        site.siteId,
        { status: 'online', version },
        change('test', decision.reason),
      );
      if (moved === 'conflict') return;
      report.sitesExcluded += 1;
      if (await sendTest(deps, site, { version: version + 1, current: undefined, failures: 0 }))
        report.testsSent += 1;
      return;
    }
    case 'send-test':
      if (await sendTest(deps, site, { version, current: site.testTask, failures: decision.failures }))
        report.testsSent += 1;
      return;
    case 'restore':
      if (
        (await deps.sites.changeStatus(
          site.siteId,
          { status: 'test', version },
          change('online', decision.reason),
        )) === 'ok'
      )
        report.sitesRestored += 1;
      return;
    case 'test-failed': {
      const current = site.testTask as TestTaskState;
      const failed = { ...current, failures: current.failures + 1, failedAt: decision.at };
      if ((await deps.sites.setTestTask(site.siteId, { version, testTask: current }, failed)) === 'ok')
        report.testsFailed += 1;
      return;
    }
    case 'cancel-test':
      await cancelQuietly(deps, decision.taskId);
      return;
  }
}

/**
 * Submits the site's test task and records it on the site. If the site changed in between (an
 * operator, another run), the task just sent is cancelled: it tests nothing anyone waits for.
 */
async function sendTest(
  deps: HealthDeps,
  site: Site,
  expected: { version: number; current: TestTaskState | undefined; failures: number },
): Promise<boolean> {
  const { taskId } = await submitSystemTask(deps, SITE_HEALTH_OWNER, siteTestSpec(site));
  const testTask: TestTaskState = {
    taskId,
    sentAt: deps.clock.now().toISOString(),
    failures: expected.failures,
  };
  const recorded = await deps.sites.setTestTask(
    site.siteId,
    { version: expected.version, testTask: expected.current },
    testTask,
  );
  if (recorded === 'ok') return true;
  await cancelQuietly(deps, taskId);
  return false;
}

async function testTaskOutcome(deps: Pick<Deps, 'tasks'>, taskId: string): Promise<TestTaskOutcome> {
  const task = await deps.tasks.get(taskId);
  if (task === undefined) return 'missing';
  return {
    state: task.state,
    ...(task.endedAt === undefined ? {} : { endedAt: task.endedAt }),
    finished: task.counts.finished,
    jobCount: task.jobCount,
    ...(task.reason === undefined ? {} : { reason: task.reason }),
  };
}

/** Cancels a test task; one that ended meanwhile is left as it is. */
async function cancelQuietly(
  deps: Pick<Deps, 'tasks' | 'workflow' | 'clock' | 'policies'>,
  taskId: string,
): Promise<void> {
  try {
    await cancelTask(deps, SITE_HEALTH_PRINCIPAL, taskId);
  } catch (error) {
    if (!(error instanceof ConflictError)) throw error;
  }
}
