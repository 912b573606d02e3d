/**
 * `gluon resubmit`: the owner runs ended jobs of a task again, as new attempts, optionally with
 * more memory or walltime or on other sites. The request checks everything and gives the task a
 * resubmit order (one conditional write; an ended task is reopened by the same write); the task's
 * workflow then queues the jobs again in its resubmit step, a page at a time, and the change feed
 * of job records archives each ended attempt and sends the new attempt's message, as for any retry.
 * Nothing proportional to the task's size happens in the request, and a repeated request is a
 * no-op.
 */
import type { ResubmitTaskRequest, ResubmitTaskResponse } from '../api/tasks.ts';
import type { Deps, Principal } from '../deps.ts';
import { ConflictError, type FieldIssue, NotFoundError, TransientError, ValidationError } from '../errors.ts';
import { ATTEMPT_FIELDS, optional } from '../jobs/end-attempt.ts';
import { type Attempt, isFinalJobState, type JobRecord, type ResourceOverride } from '../jobs/job.ts';
import type { JobChange, JobStore } from '../jobs/ports.ts';
import { brokerTask, describeNoSite } from '../policies/broker-task.ts';
import { effectiveResources } from '../policies/retry-policy.ts';
import { resourceMisfit } from '../sites/resource-fit.ts';
import type { Site } from '../sites/site.ts';
import {
  formatJobSelection,
  type JobRange,
  parseJobSelection,
  type ResubmitState,
  selectedIndexes,
} from './job-selection.ts';
import { releaseWaitIfReady } from './release-wait.ts';
import { isFinalTaskState, type ResubmitOrder, type TaskHead } from './task.ts';
import { ownedTaskHead } from './task-access.ts';
import type { TaskSpec } from './task-spec.ts';

/** Job records read and written per resubmit step. */
const RESUBMIT_PAGE = 5000;
/** Conditional job writes in flight at once in the resubmit step. */
const WRITES_IN_FLIGHT = 25;
/** Chosen ranges closer than this are read with one listing. */
const READ_GAP = 100;
/** Refused jobs named in an error, at most. */
const NAMED_MAX = 5;

/** What the request asks for, in the form an order keeps (compared to spot a repeated request). */
type Wanted = Pick<ResubmitOrder, 'jobs' | 'state' | 'memoryMB' | 'walltimeSec' | 'siteIds' | 'sitesGiven'>;

/**
 * The owner's resubmit. Refused with a 4xx naming the field, changing nothing: another user's
 * task (404), a cancelled or event-service task, or one not running yet (409); chosen jobs that
 * do not exist, never ran, still queued or running, or finished while the task still runs
 * (`jobs`); resources no site can give (`memoryMB`, `walltimeSec`); sites unknown or unable to
 * run the jobs (`sites`). The same request again, while its order is pending or after, changes
 * nothing more (jobs it queued are counted `alreadyResubmitted`).
 */
export async function resubmitTask(
  deps: Pick<Deps, 'tasks' | 'jobs' | 'sites' | 'workflow' | 'clock'>,
  principal: Principal,
  taskId: string,
  request: ResubmitTaskRequest,
): Promise<ResubmitTaskResponse> {
  const head = await ownedTaskHead(deps.tasks, principal, taskId);
  const spec = await deps.tasks.getSpec(taskId);
  if (spec === undefined) throw new NotFoundError(`task ${taskId} not found`);
  refuseUnlessResubmittable(head, spec);
  const ranges = request.jobs === undefined ? undefined : parseJobSelection(request.jobs, head.jobCount);
  const placement = brokerResubmit(spec, await deps.sites.list(), request);
  const wanted: Wanted = {
    ...(ranges === undefined ? { state: request.state ?? 'failed' } : { jobs: formatJobSelection(ranges) }),
    ...optional('memoryMB', request.memoryMB),
    ...optional('walltimeSec', request.walltimeSec),
    ...placement,
  };
  const answer = (state: TaskHead['state'], jobs: number, already: number, reopened: boolean) => ({
    taskId,
    state,
    jobs,
    alreadyResubmitted: already,
    reopened,
    siteIds: placement.siteIds,
  });

  const pending = head.resubmitOrder;
  if (pending !== undefined) {
    if (!sameOrder(pending, wanted)) {
      throw new ConflictError(
        `task ${taskId} has a resubmit under way (order ${pending.order}, given ${pending.at}): try again once its jobs are queued, in seconds`,
      );
    }
    // The same request again (its answer was lost, or its workflow did not start): see that it runs.
    await runOrder(deps, taskId, pending);
    return answer(head.state, 0, pending.expected, pending.reopened);
  }

  const { count, already } =
    ranges === undefined
      ? { count: await countInState(deps, taskId, wanted.state ?? 'failed'), already: 0 }
      : await checkChosen(deps.jobs, head, ranges);
  if (count === 0) return answer(head.state, 0, already, false);

  const order: ResubmitOrder = {
    order: (head.resubmitOrders ?? 0) + 1,
    ...wanted,
    expected: count,
    reopened: isFinalTaskState(head.state),
    at: deps.clock.now().toISOString(),
  };
  const given = await deps.tasks.resubmit(taskId, order, {
    from: head.state,
    reason: `resubmitted ${count} job${count === 1 ? '' : 's'} by its owner`,
  });
  if (!given) {
    throw new ConflictError(
      `task ${taskId} changed while it was being resubmitted (it ended, or another resubmit came first): try again`,
    );
  }
  await runOrder(deps, taskId, order);
  return answer('running', count, already, order.reopened);
}

/** The tasks whose jobs cannot be resubmitted, each with why (409). */
function refuseUnlessResubmittable(head: TaskHead, spec: TaskSpec): void {
  const taskId = head.taskId;
  if (spec.eventService !== undefined) {
    throw new ConflictError(
      `task ${taskId} is an event-service task: its ranges are retried on their own (eventService.maxRangeAttempts); gluon ranges ${taskId} --state fatal lists those that failed`,
    );
  }
  if (head.state === 'cancelled' || head.cancelRequested)
    throw new ConflictError(`task ${taskId} was cancelled: its jobs cannot be resubmitted; submit it again`);
  if (head.state === 'submitted' || head.state === 'splitting')
    throw new ConflictError(`task ${taskId} is ${head.state}: none of its jobs has run yet`);
  if (isFinalTaskState(head.state) && head.jobsEnqueued < head.jobCount) {
    throw new ConflictError(
      `task ${taskId} ended before all its jobs were sent (${head.reason ?? head.state}): submit it again`,
    );
  }
}

function sameOrder(order: ResubmitOrder, wanted: Wanted): boolean {
  const sites = (o: Wanted) => (o.sitesGiven ? [...o.siteIds].sort().join(',') : '');
  return (
    order.jobs === wanted.jobs &&
    order.state === wanted.state &&
    order.memoryMB === wanted.memoryMB &&
    order.walltimeSec === wanted.walltimeSec &&
    order.sitesGiven === wanted.sitesGiven &&
    sites(order) === sites(wanted)
  );
}

/** Starts the reopened task's own workflow execution, or wakes the running one's wait step. */
async function runOrder(
  deps: Pick<Deps, 'tasks' | 'workflow'>,
  taskId: string,
  order: ResubmitOrder,
): Promise<void> {
  if (!order.reopened) {
    await releaseWaitIfReady(deps, taskId);
    return;
  }
  try {
    await deps.workflow.startTask(taskId, { resubmitOrder: order.order });
  } catch (error) {
    throw new TransientError(
      `task ${taskId} was reopened but its workflow did not start (${(error as Error).message}): give the same resubmit again to start it`,
    );
  }
}

async function countInState(
  deps: Pick<Deps, 'tasks'>,
  taskId: string,
  state: ResubmitState,
): Promise<number> {
  const progress = await deps.tasks.getProgress(taskId);
  if (progress === undefined) throw new NotFoundError(`task ${taskId} not found`);
  return progress.counts[state];
}

/**
 * The chosen jobs that will run again, and those an earlier resubmit queued already; any other
 * chosen job (never ran, queued, running, or finished while the task still runs) refuses the
 * whole request, naming `jobs`.
 */
async function checkChosen(
  jobs: JobStore,
  head: TaskHead,
  ranges: readonly JobRange[],
): Promise<{ count: number; already: number }> {
  const records = await readChosen(jobs, head.taskId, ranges);
  const ended = isFinalTaskState(head.state);
  let count = 0;
  let already = 0;
  const refused: string[] = [];
  for (const jobIndex of selectedIndexes(ranges)) {
    const record = records.get(jobIndex);
    if (record === undefined) refused.push(`${jobIndex} has not run yet`);
    else if (!isFinalJobState(record.state)) {
      if (record.resubmitted?.attempt === record.attempt) already++;
      else refused.push(`${jobIndex} is ${record.state}`);
    } else if (record.state === 'finished' && !ended)
      refused.push(`${jobIndex} finished and the task still runs`);
    else count++;
  }
  if (refused.length > 0) {
    const named = refused.slice(0, NAMED_MAX).join('; job ');
    const more = refused.length > NAMED_MAX ? ` (and ${refused.length - NAMED_MAX} more)` : '';
    throw new ValidationError('these jobs cannot be resubmitted', [
      {
        field: 'jobs',
        message: `only ended jobs can be resubmitted, finished ones once the task has ended: job ${named}${more}`,
      },
    ]);
  }
  return { count, already };
}

/** The records of the chosen jobs (jobs never claimed have none), by index. */
async function readChosen(
  jobs: JobStore,
  taskId: string,
  ranges: readonly JobRange[],
): Promise<Map<number, JobRecord>> {
  const spans: Array<[number, number]> = [];
  for (const [first, last] of ranges) {
    const previous = spans.at(-1);
    if (previous !== undefined && first - previous[1] <= READ_GAP) previous[1] = last;
    else spans.push([first, last]);
  }
  const wanted = new Set(selectedIndexes(ranges));
  const byIndex = new Map<number, JobRecord>();
  for (const [first, last] of spans) {
    const { records } = await jobs.list(taskId, first, last - first + 1);
    for (const record of records) if (wanted.has(record.jobIndex)) byIndex.set(record.jobIndex, record);
  }
  return byIndex;
}

function overridesOf(r: {
  memoryMB?: number | undefined;
  walltimeSec?: number | undefined;
}): ResourceOverride {
  return { ...optional('memoryMB', r.memoryMB), ...optional('walltimeSec', r.walltimeSec) };
}

/**
 * Brokerage for the resubmitted jobs: the task's spec with the new resources, on the given sites
 * (replacing the spec's allow and deny lists) or the spec's. Every given site must be able to run
 * them (else `sites`); without sites, some site the task may use must have a slot for the new
 * resources (else the resources are named).
 */
export function brokerResubmit(
  spec: TaskSpec,
  sites: readonly Site[],
  request: Pick<ResubmitTaskRequest, 'memoryMB' | 'walltimeSec' | 'sites'>,
): { siteIds: string[]; sitesGiven: boolean } {
  const overrides = overridesOf(request);
  const given = request.sites === undefined ? undefined : [...new Set(request.sites)];
  const allowed: TaskSpec = given === undefined ? spec : { ...spec, sites: { allow: given, deny: [] } };
  // Only what a site is (the hard filters decide): the moment's load does not refuse a resubmit.
  const facts = sites.map((site) => ({ site }));
  const broker = (s: TaskSpec) => {
    const decision = brokerTask(s, facts, '');
    return { ...decision, siteIds: decision.chosen.map((c) => c.siteId) };
  };
  const result = broker({ ...allowed, resources: { ...spec.resources, ...overrides } });
  if (given !== undefined) {
    const known = new Set(sites.map((s) => s.siteId));
    const problems = [
      ...given.filter((id) => !known.has(id)).map((id) => `${id}: no such site`),
      ...result.rejected.filter((r) => given.includes(r.siteId)).map((r) => `${r.siteId}: ${r.reason}`),
    ];
    if (problems.length > 0) {
      throw new ValidationError('the jobs cannot go to these sites', [
        { field: 'sites', message: problems.join('; ') },
      ]);
    }
    return { siteIds: result.siteIds, sitesGiven: true };
  }
  if (result.siteIds.length > 0) return { siteIds: result.siteIds, sitesGiven: false };
  const usable = broker(allowed);
  if (usable.siteIds.length === 0)
    throw new ConflictError(`the task's jobs cannot run anywhere now: ${describeNoSite(usable)}`);
  const slots = sites.filter((s) => usable.siteIds.includes(s.siteId)).map((s) => s.slot);
  throw new ValidationError(
    'no site can run the jobs with these resources',
    resourceIssues(overrides, slots),
  );
}

/** Which of the new resources no slot of the sites the task may use can give. */
function resourceIssues(
  overrides: ResourceOverride,
  slots: ReadonlyArray<{ memoryMB: number; walltimeSec: number }>,
): FieldIssue[] {
  const units = { memoryMB: 'MB', walltimeSec: 's' } as const;
  const fields = (Object.keys(units) as Array<keyof typeof units>).filter((f) => overrides[f] !== undefined);
  const issues = fields.flatMap((field): FieldIssue[] => {
    const most = Math.max(...slots.map((slot) => slot[field]));
    return (overrides[field] ?? 0) > most
      ? [
          {
            field,
            message: `more than any slot of the sites the task may use has (at most ${most} ${units[field]})`,
          },
        ]
      : [];
  });
  if (issues.length > 0) return issues;
  return fields.map((field) => ({
    field,
    message: 'no slot of the sites the task may use has this memory and walltime together',
  }));
}

/** One step's progress through the order: the next index to look at, and the jobs queued so far. */
export interface ResubmitProgress {
  nextIndex: number;
  done: boolean;
  resubmitted: number;
}

/**
 * The workflow's resubmit step, one page of the task's job records at a time: each job the order
 * takes (chosen by index, or in the order's state) moves from its final state to `queued` as its
 * next attempt, fenced on that state and attempt; the change feed archives the attempt that ended,
 * sends the new attempt's message and moves the counters (failed → queued). Attempts spent are
 * forgotten (failures = 0): the owner asked for the job to run again, with the task's maxAttempts.
 * After the last page the order ends, adding the jobs it queued to the task's jobsResubmitted, so
 * the task cannot end before the change feed has counted each. A repeated page (the step retried)
 * counts the jobs this order queued already, and queues none twice.
 */
export async function resubmitJobs(
  deps: Pick<Deps, 'tasks' | 'jobs' | 'sites' | 'clock'>,
  taskId: string,
  nextIndex: number,
  resubmitted: number,
): Promise<ResubmitProgress> {
  const head = await deps.tasks.getHead(taskId);
  if (head === undefined) throw new NotFoundError(`task ${taskId} not found`);
  const order = head.resubmitOrder;
  if (order === undefined || head.cancelRequested || isFinalTaskState(head.state))
    return { nextIndex, done: true, resubmitted };
  const spec = await deps.tasks.getSpec(taskId);
  if (spec === undefined) throw new NotFoundError(`task ${taskId} has no spec`);

  let records: JobRecord[];
  let next = nextIndex;
  let more = false;
  if (order.jobs === undefined) {
    const page = await deps.jobs.list(taskId, nextIndex, RESUBMIT_PAGE);
    records = page.records;
    more = page.more;
    next = (records.at(-1)?.jobIndex ?? nextIndex - 1) + 1;
  } else {
    // At most MAX_CHOSEN_JOBS chosen: one page.
    records = [
      ...(await readChosen(deps.jobs, taskId, parseJobSelection(order.jobs, head.jobCount))).values(),
    ];
  }
  const queuedBefore = records.filter((r) => r.resubmitted?.order === order.order).length;
  const taken = records.filter(
    (r) =>
      r.resubmitted?.order !== order.order &&
      isFinalJobState(r.state) &&
      (order.state === undefined || r.state === order.state),
  );
  const sites = new Map((await deps.sites.list()).map((s) => [s.siteId, s]));
  const at = deps.clock.now().toISOString();
  let written = 0;
  for (let i = 0; i < taken.length; i += WRITES_IN_FLIGHT) {
    const results = await Promise.all(
      taken
        .slice(i, i + WRITES_IN_FLIGHT)
        .map((record) =>
          deps.jobs.update(
            { taskId, jobIndex: record.jobIndex },
            requeueChange(record, placeJob(record, order, spec, sites), order.order, at),
            [{ state: record.state, attempt: record.attempt }],
          ),
        ),
    );
    written += results.filter((r) => r === 'ok').length;
  }
  const total = resubmitted + queuedBefore + written;
  if (more) return { nextIndex: next, done: false, resubmitted: total };
  await deps.tasks.endResubmit(taskId, { order: order.order, jobs: total, at });
  return { nextIndex: next, done: true, resubmitted: total };
}

/**
 * Where a resubmitted job goes and what it asks for: the new resources over those it had (raised
 * by retries); a site of the order's whose slot fits them, its own when it is one and the owner
 * named no sites, else spread by index. A job whose raised resources fit none of them asks for
 * the task's (with the new ones) again, which brokerage checked every site of the order against.
 */
export function placeJob(
  record: Pick<JobRecord, 'jobIndex' | 'siteId' | 'resources'>,
  order: Pick<ResubmitOrder, 'memoryMB' | 'walltimeSec' | 'siteIds' | 'sitesGiven'>,
  spec: Pick<TaskSpec, 'resources'>,
  sites: ReadonlyMap<string, Site>,
): { siteId: string; resources?: ResourceOverride } {
  const given = overridesOf(order);
  const fitsWith = (resources: ResourceOverride) => (siteId: string) => {
    const site = sites.get(siteId);
    const needs = effectiveResources(spec.resources, { resources });
    return site !== undefined && resourceMisfit(needs, site.slot, 'slots have') === undefined;
  };
  let resources: ResourceOverride = { ...record.resources, ...given };
  let candidates = order.siteIds.filter(fitsWith(resources));
  if (candidates.length === 0) {
    resources = given;
    candidates = order.siteIds;
  }
  const siteId =
    !order.sitesGiven && candidates.includes(record.siteId)
      ? record.siteId
      : (candidates[record.jobIndex % Math.max(1, candidates.length)] ?? record.siteId);
  return { siteId, ...(Object.keys(resources).length > 0 ? { resources } : {}) };
}

/** The write that queues an ended job again as its next attempt, its ended attempt kept for the archive. */
export function requeueChange(
  record: JobRecord,
  placement: { siteId: string; resources?: ResourceOverride },
  order: number,
  at: string,
): JobChange {
  const ended = endedAttempt(record);
  const attempt = record.attempt + 1;
  return {
    set: {
      state: 'queued',
      attempt,
      failures: 0,
      siteId: placement.siteId,
      queuedAt: at,
      updatedAt: at,
      resubmitted: { order, attempt },
      ...optional('ended', ended),
      ...optional('resources', placement.resources),
    },
    remove: [
      ...ATTEMPT_FIELDS,
      ...(ended === undefined ? (['ended'] as const) : []),
      ...(placement.resources === undefined ? (['resources'] as const) : []),
    ],
  };
}

/** The last attempt of an ended job, to archive; none for a job killed before it started. */
export function endedAttempt(record: JobRecord): Attempt | undefined {
  const { pilotId, startedAt, pilotErrorCode, state } = record;
  if (pilotId === undefined || startedAt === undefined || pilotErrorCode === undefined) return undefined;
  if (state !== 'finished' && state !== 'failed' && state !== 'cancelled') return undefined;
  return {
    attempt: record.attempt,
    pilotId,
    siteId: record.siteId,
    ...optional('host', record.host),
    state,
    startedAt,
    endedAt: record.endedAt ?? record.updatedAt,
    pilotErrorCode,
    ...optional('exitCode', record.exitCode),
    ...optional('signal', record.signal),
    ...optional('errorMessage', record.errorMessage),
    ...optional('usage', record.usage),
    ...optional('resources', record.resources),
    ...optional('outputs', record.outputs?.length ? record.outputs : undefined),
    ...optional('log', record.log),
  };
}
