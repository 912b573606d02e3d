import type { Deps } from '../deps.ts';
import type { PilotErrorCode } from '../pilots/pilot-error-codes.ts';
import { decideAttempt, escalateResources } from '../policies/retry-policy.ts';
import { releaseFinishedTask } from '../tasks/release-finished-task.ts';
import type { Task } from '../tasks/task.ts';
import type { Resources } from '../tasks/task-spec.ts';
import { JOB_TRANSITIONS } from '../tasks/transitions.ts';
import type { Attempt, Job, JobState, OutputFile, Usage } from './job.ts';

export interface AttemptResult {
  attemptState: Attempt['state'];
  pilotErrorCode: PilotErrorCode;
  exitCode?: number;
  signal?: string;
  errorMessage?: string;
  usage?: Usage;
  outputs?: OutputFile[];
  logKey?: string;
  logArchive?: OutputFile;
  host?: string;
}

/**
 * Ends the current attempt of a leased job: finished, cancelled, failed, or queued again as a new
 * attempt (with its message sent). Fenced on state, attempt and pilot, so a replay is a no-op.
 */
export async function endAttempt(
  deps: Pick<Deps, 'tasks' | 'jobs' | 'sites' | 'queue' | 'workflow' | 'clock' | 'settings'>,
  job: Job,
  task: Task,
  result: AttemptResult,
): Promise<{ outcome: 'ok'; jobState: JobState; attempt: number } | { outcome: 'conflict' }> {
  const at = deps.clock.now().toISOString();
  const decision = decideAttempt({
    pilotErrorCode: result.pilotErrorCode,
    failures: job.failures,
    maxAttempts: task.spec.maxAttempts,
    taskCancelled: task.cancelRequested,
  });
  const record: Attempt = {
    attempt: job.attempt,
    pilotId: job.pilotId ?? 'unknown',
    siteId: job.siteId,
    ...optional('host', result.host ?? job.host),
    state:
      decision.event === 'cancel' && result.attemptState === 'failed' ? 'cancelled' : result.attemptState,
    startedAt: job.startedAt ?? job.updatedAt,
    endedAt: at,
    pilotErrorCode: result.pilotErrorCode,
    ...optional('exitCode', result.exitCode),
    ...optional('signal', result.signal),
    ...optional('errorMessage', result.errorMessage),
    ...optional('usage', result.usage),
    ...optional('outputs', result.outputs),
    ...optional('logKey', result.logKey),
    ...optional('logArchive', result.logArchive),
  };
  const outcomeFields = {
    pilotErrorCode: result.pilotErrorCode,
    ...optional('exitCode', result.exitCode),
    ...optional('errorMessage', result.errorMessage),
    ...optional('usage', result.usage),
    ...optional('logKey', result.logKey),
  };
  const expected = { state: job.state, attempt: job.attempt, ...optional('pilotId', job.pilotId) };
  const base = { taskId: job.taskId, jobIndex: job.jobIndex, expected, appendAttempt: record, at };

  if (decision.event === 'retry') {
    const attempt = job.attempt + 1;
    const current = effectiveResources(task.spec.resources, job);
    const escalated = escalateResources({
      pilotErrorCode: result.pilotErrorCode,
      current,
      factors: task.spec.retry,
      slot: (await deps.sites.get(job.siteId))?.slot,
    });
    const outcome = await deps.jobs.transition({
      ...base,
      event: 'retry',
      set: {
        ...outcomeFields,
        attempt,
        failures: decision.failures,
        queuedAt: at,
        leaseExpiresAt: deps.clock.now().getTime() + deps.settings.dispatchLeaseSec * 1000,
        ...(escalated === undefined ? {} : { resources: { ...job.resources, ...escalated } }),
      },
      remove: ['pilotId', 'host', 'startedAt'],
    });
    if (outcome !== 'ok') return { outcome: 'conflict' };
    await deps.queue.send([
      { v: 1, taskId: job.taskId, jobIndex: job.jobIndex, attempt, siteId: job.siteId },
    ]);
    return { outcome: 'ok', jobState: 'queued', attempt };
  }

  const set =
    decision.event === 'finish'
      ? { ...outcomeFields, endedAt: at, ...optional('outputs', result.outputs) }
      : decision.event === 'fail'
        ? { ...outcomeFields, endedAt: at, failures: decision.failures }
        : { ...outcomeFields, endedAt: at };
  const outcome = await deps.jobs.transition({
    ...base,
    event: decision.event,
    set,
    remove: ['leaseExpiresAt'],
  });
  if (outcome !== 'ok') return { outcome: 'conflict' };
  await releaseFinishedTask(deps, job.taskId);
  return { outcome: 'ok', jobState: JOB_TRANSITIONS[decision.event].to, attempt: job.attempt };
}

/** `{ [key]: value }` when the value is defined, `{}` otherwise (exactOptionalPropertyTypes-friendly). */
export function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

/** The resources an attempt of this job gets: the task's, with the job's retry overrides. */
export function effectiveResources(spec: Resources, job: Pick<Job, 'resources'>): Resources {
  return { ...spec, ...job.resources };
}
