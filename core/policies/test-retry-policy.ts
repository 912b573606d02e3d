import { SCOPES } from '../api/common.ts';
import {
  type JobReplayView,
  REPLAY_MAX_JOBS,
  type TestRetryPolicyRequest,
  type TestRetryPolicyResponse,
} from '../api/retry-policy.ts';
import type { Deps, Principal } from '../deps.ts';
import { NotFoundError } from '../errors.ts';
import type { JobRecord } from '../jobs/job.ts';
import { jobAttempts } from '../jobs/list-jobs.ts';
import { PILOT_ERROR_CODES } from '../pilots/pilot-error-codes.ts';
import type { TaskHead } from '../tasks/task.ts';
import { ownedTaskHead } from '../tasks/task-access.ts';
import type { TaskSpec } from '../tasks/task-spec.ts';
import { type JobReplay, type RecordedJob, replayJob, summarizeReplays } from './replay-retry-rules.ts';
import { currentRetryPolicy } from './retry-policy-versions.ts';

/** Job records read per store call, and archived attempts read at once. */
const LIST_PAGE = 1000;
const ATTEMPT_READS_AT_ONCE = 16;
/** Jobs the answer lists one by one. */
const CHANGES_SHOWN = 100;

/**
 * POST /retry-policy/test: replays the recorded failures of past tasks against proposed rules and
 * the current ones, and says what would change: jobs rescued, jobs that would stop retrying, memory
 * and walltime asked for. The tasks are the caller's most recent ones, or those named (an operator
 * may name anyone's); at most REPLAY_MAX_JOBS jobs with failures are read. Nothing is written.
 */
export async function testRetryPolicy(
  deps: Pick<Deps, 'tasks' | 'jobs' | 'sites' | 'retryPolicies'>,
  principal: Principal,
  request: TestRetryPolicyRequest,
): Promise<TestRetryPolicyResponse> {
  const [heads, current, sites] = await Promise.all([
    tasksToReplay(deps, principal, request),
    currentRetryPolicy(deps),
    deps.sites.list(),
  ]);
  const slots = new Map(sites.map((site) => [site.siteId, site.slot]));
  const jobs: RecordedJob[] = [];
  let truncated = false;
  for (const head of heads) {
    const spec = await deps.tasks.getSpec(head.taskId);
    if (spec === undefined) continue;
    truncated = await readFailedJobs(deps, head, spec, jobs);
    if (truncated) break;
  }
  const replays = jobs.map((job) => replayJob(job, current.ruleSet, request.ruleSet, (s) => slots.get(s)));
  const changed = replays.filter((r) => r.outcome !== 'same');
  return {
    currentVersion: current.version,
    tasks: heads.map((h) => h.taskId),
    ...summarizeReplays(jobs, replays),
    truncated,
    changes: changed.slice(0, CHANGES_SHOWN).map(replayView),
  };
}

async function tasksToReplay(
  deps: Pick<Deps, 'tasks'>,
  principal: Principal,
  request: TestRetryPolicyRequest,
): Promise<TaskHead[]> {
  if (request.taskIds === undefined)
    return (await deps.tasks.listByOwner(principal.sub, { limit: request.limit })).items;
  const admin = principal.scopes.includes(SCOPES.admin);
  return Promise.all(
    [...new Set(request.taskIds)].map(async (taskId) => {
      if (!admin) return ownedTaskHead(deps.tasks, principal, taskId);
      const head = await deps.tasks.getHead(taskId);
      if (head === undefined) throw new NotFoundError(`task ${taskId} not found`);
      return head;
    }),
  );
}

/** Adds the task's jobs that had a failure to `jobs`; true when REPLAY_MAX_JOBS was reached first. */
async function readFailedJobs(
  deps: Pick<Deps, 'jobs'>,
  head: TaskHead,
  spec: TaskSpec,
  jobs: RecordedJob[],
): Promise<boolean> {
  let from = 0;
  for (;;) {
    const { records, more } = await deps.jobs.list(head.taskId, from, LIST_PAGE);
    // Only a job past its first attempt, or failed at its first, has a failure to replay.
    const failed = records.filter((r) => r.attempt > 1 || r.state === 'failed');
    for (let i = 0; i < failed.length; i += ATTEMPT_READS_AT_ONCE) {
      const batch = failed.slice(i, i + ATTEMPT_READS_AT_ONCE);
      const recorded = await Promise.all(batch.map((record) => recordedJob(deps, spec, record)));
      for (const job of recorded) {
        if (job.failures.length === 0) continue;
        if (jobs.length >= REPLAY_MAX_JOBS) return true;
        jobs.push(job);
      }
    }
    const last = records.at(-1);
    if (!more || last === undefined) return false;
    from = last.jobIndex + 1;
  }
}

async function recordedJob(
  deps: Pick<Deps, 'jobs'>,
  spec: TaskSpec,
  record: JobRecord,
): Promise<RecordedJob> {
  const archived = record.attempt > 1 ? await deps.jobs.attempts(record.taskId, record.jobIndex) : [];
  const failures = jobAttempts(record, archived)
    .filter(
      (a) => a.pilotErrorCode !== PILOT_ERROR_CODES.OK && a.pilotErrorCode !== PILOT_ERROR_CODES.CANCELLED,
    )
    .map((a) => ({
      attempt: a.attempt,
      siteId: a.siteId,
      pilotErrorCode: a.pilotErrorCode,
      ...(a.exitCode === undefined ? {} : { exitCode: a.exitCode }),
      ...(a.signal === undefined ? {} : { signal: a.signal }),
      ...(a.errorMessage === undefined ? {} : { errorMessage: a.errorMessage }),
    }));
  return {
    taskId: record.taskId,
    jobIndex: record.jobIndex,
    failures,
    resources: spec.resources,
    maxAttempts: spec.maxAttempts,
    taskFactors: spec.retry,
    consumer: spec.eventService !== undefined && record.jobIndex < spec.eventService.consumers,
  };
}

function replayView(replay: JobReplay): JobReplayView {
  const { first } = replay;
  return {
    taskId: replay.taskId,
    jobIndex: replay.jobIndex,
    outcome: replay.outcome as JobReplayView['outcome'],
    ...(first === undefined
      ? {}
      : {
          attempt: first.failure.attempt,
          pilotErrorCode: first.failure.pilotErrorCode,
          ...(first.failure.exitCode === undefined ? {} : { exitCode: first.failure.exitCode }),
          current: first.current,
          proposed: first.proposed,
        }),
    extraMemoryMB: replay.extraMemoryMB,
    extraWalltimeSec: replay.extraWalltimeSec,
  };
}
