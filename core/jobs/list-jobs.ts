import type { Page } from '../api/common.ts';
import type { AttemptView, JobsQuery, JobView } from '../api/tasks.ts';
import type { Deps, Principal } from '../deps.ts';
import { NotFoundError, ValidationError } from '../errors.ts';
import { inputNames, jobAt } from '../tasks/split-task.ts';
import type { TaskHead } from '../tasks/task.ts';
import { ownedTaskHead } from '../tasks/task-access.ts';
import type { TaskSpec } from '../tasks/task-spec.ts';
import { optional } from './end-attempt.ts';
import { type Attempt, type JobRecord, type JobState, jobIdOf } from './job.ts';

/** Records read per store call while looking for jobs in a rare state. */
const SCAN_BATCH = 500;

/**
 * A task's jobs in index order. Jobs without a record are derived from the spec: queued when
 * dispatch released them to a site queue (cancelled once the task is), defined while they wait
 * for dispatch. The page token is the
 * next job index, so pages are stable while jobs move.
 */
export async function listJobs(
  deps: Pick<Deps, 'tasks' | 'jobs'>,
  principal: Principal,
  taskId: string,
  query: JobsQuery,
): Promise<Page<JobView>> {
  const head = await ownedTaskHead(deps.tasks, principal, taskId);
  const spec = await deps.tasks.getSpec(taskId);
  if (spec === undefined) throw new NotFoundError(`task ${taskId} not found`);
  let index = parseIndexToken(query.nextToken);
  const items: JobView[] = [];
  while (items.length < query.limit && index < head.jobCount) {
    const want = query.state === undefined ? query.limit - items.length : SCAN_BATCH;
    const { records, more } = await deps.jobs.list(taskId, index, want);
    // Records are sparse: jobs between them have none. Walk the indexes up to the last record read
    // (or, when the listing is complete, to the end of the task).
    const until = more ? (records.at(-1)?.jobIndex ?? index) + 1 : head.jobCount;
    const byIndex = new Map(records.map((r) => [r.jobIndex, r]));
    const recordIndexes = records.map((r) => r.jobIndex);
    while (index < until && items.length < query.limit) {
      const record = byIndex.get(index);
      if (record === undefined && query.state !== undefined && query.state !== derivedState(head, index)) {
        // No job without a record matches here: jump to the next record, or to where the derived state changes.
        const nextRecord = recordIndexes.find((k) => k > index) ?? until;
        const boundary = index < head.jobsEnqueued ? head.jobsEnqueued : until;
        index = Math.min(nextRecord, boundary, until);
        continue;
      }
      if (query.state === undefined || stateOf(head, record, index) === query.state) {
        items.push(jobView(head, spec, index, record));
      }
      index++;
    }
  }
  return { items, ...(index < head.jobCount ? { nextToken: String(index) } : {}) };
}

/** One job with every attempt it had, oldest first. */
export async function getJob(
  deps: Pick<Deps, 'tasks' | 'jobs'>,
  principal: Principal,
  taskId: string,
  jobIndex: number,
): Promise<JobView> {
  const head = await ownedTaskHead(deps.tasks, principal, taskId);
  if (jobIndex >= head.jobCount) throw new NotFoundError(`job ${jobIdOf(taskId, jobIndex)} not found`);
  const spec = await deps.tasks.getSpec(taskId);
  if (spec === undefined) throw new NotFoundError(`task ${taskId} not found`);
  return jobWithAttempts(deps, head, spec, jobIndex);
}

/** The view of one job of a task already read, with every attempt it had, oldest first. */
export async function jobWithAttempts(
  deps: Pick<Deps, 'jobs'>,
  head: TaskHead,
  spec: TaskSpec,
  jobIndex: number,
): Promise<JobView & { attempts: AttemptView[] }> {
  const taskId = head.taskId;
  const [record, archived] = await Promise.all([
    deps.jobs.get(taskId, jobIndex),
    deps.jobs.attempts(taskId, jobIndex),
  ]);
  const attempts = jobAttempts(record, archived);
  return { ...jobView(head, spec, jobIndex, record), attempts: attempts.map(attemptView) };
}

/** Every ended attempt of a job, oldest first: the archived ones, and those only its record holds yet. */
export function jobAttempts(record: JobRecord | undefined, archived: readonly Attempt[]): Attempt[] {
  const attempts = [...archived];
  // The attempt that just ended, before the change feed archived it; and a final record's own.
  for (const latest of [record?.ended, record === undefined ? undefined : finalAttempt(record)]) {
    if (latest !== undefined && !attempts.some((a) => a.attempt === latest.attempt)) attempts.push(latest);
  }
  return attempts.sort((a, b) => a.attempt - b.attempt);
}

/** The token of a listing by index: the next index, as a decimal string. */
export function parseIndexToken(token: string | undefined): number {
  if (token === undefined) return 0;
  const n = Number(token);
  if (!/^(0|[1-9][0-9]*)$/.test(token) || !Number.isSafeInteger(n)) {
    throw new ValidationError('invalid query', [
      { field: 'query.nextToken', message: 'not a token of this listing' },
    ]);
  }
  return n;
}

function derivedState(head: TaskHead, jobIndex: number): JobState {
  if (head.cancelRequested) return 'cancelled';
  return jobIndex < head.jobsEnqueued ? 'queued' : 'defined';
}

function stateOf(head: TaskHead, record: JobRecord | undefined, jobIndex: number): JobState {
  if (record === undefined) return derivedState(head, jobIndex);
  if (record.state === 'queued' && head.cancelRequested) return 'cancelled';
  return record.state;
}

export function jobView(
  head: TaskHead,
  spec: TaskSpec,
  jobIndex: number,
  record: JobRecord | undefined,
): JobView {
  const parameters = jobAt(spec, jobIndex, head.sizing);
  const base = {
    jobId: jobIdOf(head.taskId, jobIndex),
    taskId: head.taskId,
    jobIndex,
    state: stateOf(head, record, jobIndex),
    ...optional('firstEvent', parameters.firstEvent),
    ...optional('nEvents', parameters.nEvents),
    ...optional('inputFiles', inputNames(parameters)),
  };
  if (record === undefined) {
    // Dispatch releases a job to whichever of the task's sites has room: which one is known at its claim.
    const siteId = head.siteIds.length === 1 && jobIndex < head.jobsEnqueued ? head.siteIds[0] : undefined;
    return { ...base, attempt: 1, ...optional('siteId', siteId) };
  }
  const {
    taskId: _t,
    jobIndex: _i,
    state: _s,
    failures: _f,
    ended: _e,
    updatedAt: _u,
    backoffSec: _b,
    ...fields
  } = record;
  return { ...base, ...fields };
}

/** A final record is its job's last attempt. */
function finalAttempt(record: JobRecord): Attempt | undefined {
  if (record.state === 'queued' || record.state === 'running' || record.pilotId === undefined)
    return undefined;
  return {
    attempt: record.attempt,
    pilotId: record.pilotId,
    siteId: record.siteId,
    ...optional('host', record.host),
    state: record.state,
    startedAt: record.startedAt ?? record.updatedAt,
    endedAt: record.endedAt ?? record.updatedAt,
    pilotErrorCode: record.pilotErrorCode ?? 0,
    ...optional('exitCode', record.exitCode),
    ...optional('signal', record.signal),
    ...optional('errorMessage', record.errorMessage),
    ...optional('usage', record.usage),
    ...optional('resources', record.resources),
    ...optional('outputs', record.outputs),
    ...optional('log', record.log),
  };
}

function attemptView(attempt: Attempt): AttemptView {
  return attempt;
}
