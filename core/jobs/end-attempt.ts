import type { Deps } from '../deps.ts';
import { PILOT_ERROR_CODES, type PilotErrorCode } from '../pilots/pilot-error-codes.ts';
import { decideAttempt, effectiveResources, escalateResources, otherSite } from '../policies/retry-policy.ts';
import { currentRetryRules } from '../policies/retry-policy-versions.ts';
import type { RetryingAction } from '../policies/retry-rules.ts';
import { resourceMisfit } from '../sites/resource-fit.ts';
import { jobResources } from '../tasks/split-task.ts';
import type { TaskHead } from '../tasks/task.ts';
import type { TaskSpec } from '../tasks/task-spec.ts';
import {
  type Attempt,
  type AttemptEndState,
  type JobRecord,
  type JobRef,
  type OutputFile,
  recordedMessage,
  type Usage,
} from './job.ts';
import type { JobChange } from './ports.ts';

/** What is known of an attempt's end: the pilot's report, or the reaper's verdict. */
export interface AttemptResult {
  state: AttemptEndState;
  pilotErrorCode: PilotErrorCode;
  exitCode?: number;
  signal?: string;
  errorMessage?: string;
  usage?: Usage;
  outputs?: OutputFile[];
  log?: OutputFile;
  host?: string;
}

export type EndOutcome =
  | { outcome: 'ok'; jobState: 'queued' | 'finished' | 'failed' | 'cancelled'; attempt: number }
  | { outcome: 'conflict' };

/** The fields of a record that describe its current attempt's run and result (cleared for a new attempt). */
export const ATTEMPT_FIELDS = [
  'pilotId',
  'host',
  'startedAt',
  'endedAt',
  'pilotErrorCode',
  'exitCode',
  'signal',
  'errorMessage',
  'usage',
  'outputs',
  'log',
  'backoffSec',
] as const satisfies NonNullable<JobChange['remove']>;

/** `{ [key]: value }` when the value is defined, `{}` otherwise. */
export function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function resultFields(result: AttemptResult) {
  return {
    pilotErrorCode: result.pilotErrorCode,
    ...optional('exitCode', result.exitCode),
    ...optional('signal', result.signal),
    ...optional('errorMessage', recordedMessage(result.errorMessage)),
    ...optional('usage', result.usage),
    ...optional('host', result.host),
  };
}

/**
 * Ends attempt `ref.attempt` of a running job held by `pilotId`: finished, failed, cancelled, or
 * queued again as the next attempt, as the current retry rules decide (the change feed then
 * archives the ended attempt and sends the next attempt's message, after the rule's back-off).
 * Every write is fenced on state, attempt and pilot (and site when given), so a replay or a zombie
 * is a conflict, never a corruption. A success needs no read.
 */
export async function endAttempt(
  deps: Pick<Deps, 'tasks' | 'jobs' | 'sites' | 'clock' | 'retryPolicies'>,
  ref: JobRef,
  pilotId: string,
  result: AttemptResult,
  options: { siteId?: string; record?: JobRecord } = {},
): Promise<EndOutcome> {
  const at = deps.clock.now().toISOString();
  const key = { taskId: ref.taskId, jobIndex: ref.jobIndex };
  const expected = [
    { state: 'running' as const, attempt: ref.attempt, pilotId, ...optional('siteId', options.siteId) },
  ];

  if (result.pilotErrorCode === PILOT_ERROR_CODES.OK) {
    const written = await deps.jobs.update(
      key,
      {
        set: {
          state: 'finished',
          endedAt: at,
          updatedAt: at,
          ...resultFields(result),
          ...optional('outputs', result.outputs),
          ...optional('log', result.log),
        },
      },
      expected,
    );
    return written === 'ok'
      ? { outcome: 'ok', jobState: 'finished', attempt: ref.attempt }
      : { outcome: 'conflict' };
  }

  const record = options.record ?? (await deps.jobs.get(ref.taskId, ref.jobIndex));
  if (
    record === undefined ||
    record.state !== 'running' ||
    record.attempt !== ref.attempt ||
    record.pilotId !== pilotId
  ) {
    return { outcome: 'conflict' };
  }
  const [head, spec, rules] = await Promise.all([
    deps.tasks.getHead(ref.taskId),
    deps.tasks.getSpec(ref.taskId),
    currentRetryRules(deps),
  ]);
  if (head === undefined || spec === undefined) return { outcome: 'conflict' };
  const decision = decideAttempt({
    failure: result,
    failures: record.failures,
    systemRetries: record.systemRetries ?? 0,
    maxAttempts: spec.maxAttempts,
    taskCancelled: head.cancelRequested,
    consumer: spec.eventService !== undefined && ref.jobIndex < spec.eventService.consumers,
    ...(spec.siteTest === true ? { siteTest: true } : {}),
    rules,
  });

  if (decision.event === 'retry') {
    const ended: Attempt = {
      attempt: ref.attempt,
      pilotId,
      siteId: record.siteId,
      ...optional('host', result.host ?? record.host),
      state: result.state,
      startedAt: record.startedAt ?? record.updatedAt,
      endedAt: at,
      ...resultFields(result),
      ...optional('resources', record.resources),
      ...optional('outputs', result.outputs?.length ? result.outputs : undefined),
      ...optional('log', result.log),
    };
    const { resources, siteId } = await nextPlace(deps, decision.action, record, head, spec);
    const written = await deps.jobs.update(
      key,
      {
        set: {
          state: 'queued',
          attempt: ref.attempt + 1,
          failures: decision.failures,
          ...(decision.systemRetries > 0 ? { systemRetries: decision.systemRetries } : {}),
          siteId,
          queuedAt: at,
          updatedAt: at,
          ended,
          ...optional('resources', resources),
          ...(decision.action.backoffSec ? { backoffSec: decision.action.backoffSec } : {}),
        },
        remove: [...ATTEMPT_FIELDS],
      },
      expected,
    );
    return written === 'ok'
      ? { outcome: 'ok', jobState: 'queued', attempt: ref.attempt + 1 }
      : { outcome: 'conflict' };
  }

  const state = decision.event === 'finish' ? 'finished' : decision.event === 'fail' ? 'failed' : 'cancelled';
  const written = await deps.jobs.update(
    key,
    {
      set: {
        state,
        endedAt: at,
        updatedAt: at,
        ...resultFields(result),
        ...(decision.event === 'fail' ? { failures: decision.failures } : {}),
        ...optional('log', result.log),
      },
    },
    expected,
  );
  return written === 'ok'
    ? { outcome: 'ok', jobState: state, attempt: ref.attempt }
    : { outcome: 'conflict' };
}

/**
 * Where and with what the next attempt runs: more memory or walltime (within the action's ceiling
 * and the site's slot), or another of the task's brokered sites that is up and fits the job.
 */
async function nextPlace(
  deps: Pick<Deps, 'sites'>,
  action: RetryingAction,
  record: JobRecord,
  head: TaskHead,
  spec: TaskSpec,
): Promise<{ resources: JobRecord['resources']; siteId: string }> {
  const current = effectiveResources(jobResources(spec, head.sizing, record.jobIndex), record);
  if (action.type === 'retry-other-site') {
    const others = head.siteIds.filter((s) => s !== record.siteId);
    const sites = await Promise.all(others.map((s) => deps.sites.get(s)));
    const wanted = spec.siteTest === true ? 'test' : 'online';
    const usable = new Set<string>();
    for (const site of sites) {
      if (site?.status === wanted && resourceMisfit(current, site.slot, 'slots have') === undefined)
        usable.add(site.siteId);
    }
    return {
      resources: record.resources,
      siteId: otherSite(head.siteIds, record.siteId, (s) => usable.has(s)),
    };
  }
  if (action.type !== 'retry-memory' && action.type !== 'retry-walltime')
    return { resources: record.resources, siteId: record.siteId };
  const escalated = escalateResources({
    action,
    current,
    taskFactors: spec.retry,
    slot: (await deps.sites.get(record.siteId))?.slot,
  });
  return {
    resources: escalated === undefined ? record.resources : { ...record.resources, ...escalated },
    siteId: record.siteId,
  };
}

/**
 * A claim that never completed (its pilot vanished while claiming, or never heard the answer) is
 * fenced: the job moves to its next attempt, so a late claim write cannot land, and the attempt
 * counts as a system error (no attempt of the user's budget is used).
 */
export async function abandonClaim(
  deps: Pick<Deps, 'jobs' | 'clock'>,
  ref: JobRef,
  pilotId: string,
  siteId: string,
): Promise<'ok' | 'conflict'> {
  const at = deps.clock.now().toISOString();
  const ended: Attempt = {
    attempt: ref.attempt,
    pilotId,
    siteId,
    state: 'abandoned',
    startedAt: at,
    endedAt: at,
    pilotErrorCode: PILOT_ERROR_CODES.CLAIM_ABANDONED,
    errorMessage: `pilot ${pilotId} never completed its claim`,
  };
  const record = ref.attempt === 1 ? undefined : await deps.jobs.get(ref.taskId, ref.jobIndex);
  return deps.jobs.update(
    { taskId: ref.taskId, jobIndex: ref.jobIndex },
    {
      set: {
        state: 'queued',
        attempt: ref.attempt + 1,
        failures: record?.failures ?? 0,
        siteId: record?.siteId ?? siteId,
        queuedAt: at,
        updatedAt: at,
        ended,
      },
      remove: [...ATTEMPT_FIELDS],
    },
    [...(ref.attempt === 1 ? (['absent'] as const) : []), { state: 'queued', attempt: ref.attempt }],
  );
}
