/**
 * The steps of the task workflow (statemachines/task.asl.json). Every step is idempotent: a
 * restarted execution runs them again from the start and nothing is done twice. Work in
 * proportion to a task's jobs (sending a million messages, telling every running job to stop) is
 * done here, a page per step, never inside an API request.
 */
import type { Deps } from '../deps.ts';
import { NoSiteError, NotFoundError } from '../errors.ts';
import { deriveRangeCounts, type RangeCounters } from '../event-ranges/range-counts.ts';
import type { OutputFile } from '../jobs/job.ts';
import { attemptKey } from '../jobs/job.ts';
import type { JobCounts } from '../jobs/job-counts.ts';
import { jobMessage } from '../jobs/job-message.ts';
import { killEntry } from '../pilots/pilot.ts';
import { brokerSites } from '../policies/broker-sites.ts';
import { describeNoSite } from '../policies/broker-task.ts';
import { dispatchJobs } from '../policies/dispatch-jobs.ts';
import type { DispatchEntry } from '../policies/ports.ts';
import { effectiveResources } from '../policies/retry-policy.ts';
import { jobSites } from '../policies/site-assignment.ts';
import { releaseWaitIfReady } from './release-wait.ts';
import { jobResources } from './split-task.ts';
import { finalTaskState, isFinalTaskState, type TaskHead, type TaskState } from './task.ts';
import type { TaskSpec } from './task-spec.ts';
import { taskEventTo } from './transitions.ts';

export interface Progress {
  nextIndex: number;
  done: boolean;
  /** From the split: an event-service task (its ranges are sent before its jobs). */
  eventService?: boolean;
}

export async function loadHead(deps: Pick<Deps, 'tasks'>, taskId: string): Promise<TaskHead> {
  const head = await deps.tasks.getHead(taskId);
  if (head === undefined) throw new NotFoundError(`task ${taskId} not found`);
  return head;
}

/**
 * submitted → splitting; brokerage chooses the sites and their shares of the jobs, and its decision
 * is stored with the task — first, so that a task no site can take fails with every site's reason
 * kept for `gluon why`. Resumes where enqueueing stopped.
 */
export async function splitTask(
  deps: Pick<Deps, 'tasks' | 'sites' | 'queue' | 'clock'>,
  taskId: string,
): Promise<Progress> {
  const head = await loadHead(deps, taskId);
  const eventService = head.rangeCount !== undefined;
  if (isFinalTaskState(head.state) || head.cancelRequested)
    return { nextIndex: head.jobsEnqueued, done: true, eventService };
  if (head.state === 'submitted') {
    const spec = await deps.tasks.getSpec(taskId);
    if (spec === undefined) throw new NotFoundError(`task ${taskId} has no spec`);
    const at = deps.clock.now().toISOString();
    const decision = await brokerSites(deps, spec, at);
    await deps.tasks.recordBrokerage(taskId, decision);
    if (decision.chosen.length === 0) throw new NoSiteError(describeNoSite(decision));
    await deps.tasks.transition(taskId, 'split', {
      at,
      siteIds: decision.chosen.map((c) => c.siteId),
      siteShares: decision.chosen.map((c) => c.share),
    });
  }
  return { nextIndex: head.jobsEnqueued, done: head.jobsEnqueued >= head.jobCount, eventService };
}

/**
 * Hands the task's jobs to dispatch (core/policies/dispatch-jobs.ts), which releases them to the
 * site queues a few at a time in fair-share order; splitting → running. One dispatch round runs
 * at once, so a task's first jobs do not wait for the next scheduled round. Nothing is written
 * per job: a job gets its record at its first claim. Safe to replay: a task already in dispatch
 * keeps its progress.
 */
export async function enqueueJobs(
  deps: Pick<Deps, 'tasks' | 'queue' | 'clock' | 'policies' | 'sites' | 'accounting'>,
  taskId: string,
  nextIndex: number,
): Promise<Progress> {
  const head = await loadHead(deps, taskId);
  if (head.cancelRequested || isFinalTaskState(head.state)) return { nextIndex, done: true };
  // splitTask brokered the task before its first page; a task without sites cannot be enqueued.
  if (head.siteIds.length === 0) throw new NoSiteError(`task ${taskId} has no brokered site`);
  const spec = await deps.tasks.getSpec(taskId);
  if (spec === undefined) throw new NotFoundError(`task ${taskId} has no spec`);
  await deps.policies.activate(dispatchEntry(head, spec));
  if (head.state === 'splitting')
    await deps.tasks.transition(taskId, 'run', { at: deps.clock.now().toISOString() });
  await dispatchJobs(deps);
  return { nextIndex: head.jobCount, done: true };
}

/** What dispatch needs of a task to release its jobs (a task already in dispatch keeps its own). */
export function dispatchEntry(head: TaskHead, spec: TaskSpec): DispatchEntry {
  return {
    taskId: head.taskId,
    owner: head.owner,
    priority: head.priority ?? spec.priority,
    createdAt: head.createdAt,
    jobCount: head.jobCount,
    released: head.jobsEnqueued,
    cores: spec.resources.cores,
    // What the next job to release needs (a scouted task's jobs after its scouts: the sized memory).
    memoryMB: jobResources(spec, head.sizing, head.jobsEnqueued).memoryMB,
    ...(spec.resources.gpus === undefined ? {} : { gpus: spec.resources.gpus }),
    siteIds: head.siteIds,
    ...(head.paused === true ? { paused: true } : {}),
    ...(spec.siteTest === true ? { siteTest: true } : {}),
    ...(spec.budget === undefined ? {} : { budgetUsd: spec.budget.usd }),
  };
}

/** Stores the workflow's task token, then releases it at once if there is already something to do. */
export async function waitForJobs(
  deps: Pick<Deps, 'tasks' | 'workflow'>,
  taskId: string,
  taskToken: string,
): Promise<void> {
  await loadHead(deps, taskId);
  await deps.tasks.storeWaitToken(taskId, taskToken);
  await releaseWaitIfReady(deps, taskId);
}

const CANCEL_PAGE = 5000;

/**
 * The cancel step, one page of a cancelled task's job records at a time: the pilot of every
 * running job is told (through its lease) to kill it; queued jobs need nothing, since claims of a
 * cancelled task are refused. Once through, the task is marked swept and waits for the last
 * running jobs to report.
 */
export async function cancelJobs(
  deps: Pick<Deps, 'tasks' | 'jobs' | 'leases' | 'clock'>,
  taskId: string,
  nextIndex: number,
): Promise<Progress> {
  const { records, more } = await deps.jobs.list(taskId, nextIndex, CANCEL_PAGE);
  const kills = new Map<string, string[]>();
  for (const record of records) {
    if (record.state !== 'running' || record.pilotId === undefined) continue;
    const entries = kills.get(record.pilotId) ?? [];
    entries.push(killEntry(attemptKey(record), 'cancelled'));
    kills.set(record.pilotId, entries);
  }
  await Promise.all([...kills].map(([pilotId, entries]) => deps.leases.addKills(pilotId, entries)));
  const last = records.at(-1);
  if (more && last !== undefined) return { nextIndex: last.jobIndex + 1, done: false };
  await deps.tasks.markCancelSwept(taskId, deps.clock.now().toISOString());
  return { nextIndex: 0, done: true };
}

/**
 * The resume step, one page of job indexes at a time: after a pause, pilots dropped the messages of
 * the task's jobs, so the message of every job still queued (no record yet, or a queued record at
 * its attempt) is sent again. Once through, the resume is done; a task paused again meanwhile
 * keeps it pending for its next resume.
 */
export async function resumeJobs(
  deps: Pick<Deps, 'tasks' | 'jobs' | 'queue' | 'clock'>,
  taskId: string,
  nextIndex: number,
): Promise<Progress> {
  const head = await loadHead(deps, taskId);
  if (head.paused === true || head.cancelRequested || isFinalTaskState(head.state))
    return { nextIndex, done: true };
  const end = Math.min(head.jobsEnqueued, nextIndex + RESUME_PAGE);
  const { records } = await deps.jobs.list(taskId, nextIndex, RESUME_PAGE);
  const byIndex = new Map(records.filter((r) => r.jobIndex < end).map((r) => [r.jobIndex, r]));
  const now = deps.clock.now().getTime();
  const siteOf = jobSites(head);
  const messages = [];
  const spec = await deps.tasks.getSpec(taskId);
  if (spec === undefined) throw new NotFoundError(`task ${taskId} has no spec`);
  for (let jobIndex = nextIndex; jobIndex < end; jobIndex++) {
    const record = byIndex.get(jobIndex);
    if (record === undefined) {
      const siteId = siteOf(jobIndex);
      if (siteId !== undefined) {
        const needs = jobResources(spec, head.sizing, jobIndex);
        messages.push(jobMessage({ taskId, jobIndex, attempt: 1 }, siteId, now, needs));
      }
    } else if (record.state === 'queued') {
      const needs = effectiveResources(jobResources(spec, head.sizing, jobIndex), record);
      messages.push(jobMessage(record, record.siteId, now, needs));
    }
  }
  if (messages.length > 0) await deps.queue.send(messages);
  if (end < head.jobsEnqueued) return { nextIndex: end, done: false };
  await deps.tasks.steer(taskId, { resumePending: false, at: deps.clock.now().toISOString() });
  return { nextIndex: end, done: true };
}

const RESUME_PAGE = 5000;

/** Sets the final state from the counts: done, partial, failed, or cancelled. */
export async function finalizeTask(
  deps: Pick<Deps, 'tasks' | 'jobs' | 'clock' | 'policies'>,
  taskId: string,
): Promise<{ state: TaskState }> {
  const progress = await deps.tasks.getProgress(taskId);
  if (progress === undefined) throw new NotFoundError(`task ${taskId} not found`);
  if (isFinalTaskState(progress.state)) return { state: progress.state };
  const ending =
    progress.rangeCount === undefined
      ? jobsEnding(progress)
      : await eventServiceEnding(deps, taskId, progress);
  await deps.policies.deactivate(taskId);
  const moved = await deps.tasks.transition(taskId, taskEventTo(ending.state), {
    at: deps.clock.now().toISOString(),
    ...(ending.reason === undefined ? {} : { reason: ending.reason }),
    ...(ending.outputs === undefined ? {} : { outputs: ending.outputs }),
  });
  // Refused: something else ended the task meanwhile (a replayed step); report what it is now.
  return moved ? { state: ending.state } : { state: (await loadHead(deps, taskId)).state };
}

interface Ending {
  state: 'done' | 'partial' | 'failed' | 'cancelled';
  reason?: string;
  outputs?: OutputFile[];
}

function jobsEnding(progress: TaskHead & { counts: JobCounts }): Ending {
  const state = finalTaskState(progress, progress.counts);
  const c = progress.counts;
  if (state === 'done') return { state };
  return {
    state,
    reason: `${c.finished} finished, ${c.failed} failed, ${c.cancelled} cancelled of ${progress.jobCount}`,
  };
}

/**
 * An event-service task ends by its ranges and its merge: done when every range finished and
 * merged; partial when some finished (fatal ranges are listed by `gluon ranges --state fatal`);
 * failed when none did. Its outputs are its merge jobs' outputs.
 */
async function eventServiceEnding(
  deps: Pick<Deps, 'jobs'>,
  taskId: string,
  progress: TaskHead & { counts: JobCounts; rangeCounters: RangeCounters },
): Promise<Ending> {
  if (progress.cancelRequested) return { state: 'cancelled', reason: 'cancelled by its owner' };
  const r = deriveRangeCounts(
    { rangeCount: progress.rangeCount ?? 0, events: progress.events ?? 0 },
    progress.rangeCounters,
  );
  const consumers = progress.jobCount - (progress.mergeJobs ?? 0);
  const merges =
    progress.mergeJobs === undefined
      ? { records: [] }
      : await deps.jobs.list(taskId, consumers, progress.mergeJobs);
  const outputs = merges.records.filter((j) => j.state === 'finished').flatMap((j) => j.outputs ?? []);
  const mergesFailed =
    (progress.mergeJobs ?? 0) - merges.records.filter((j) => j.state === 'finished').length;
  const notDone = r.total - r.finished - r.fatal;
  const parts = [
    `${r.finished} of ${r.total} ranges finished (${r.eventsFinished} of ${r.events} events)`,
    ...(r.fatal > 0 ? [`${r.fatal} fatal`] : []),
    ...(notDone > 0 ? [`${notDone} never done (no consumer left)`] : []),
    ...(mergesFailed > 0 ? [`${mergesFailed} of ${progress.mergeJobs} merge jobs failed`] : []),
  ];
  const state =
    r.finished === 0 ? 'failed' : r.finished === r.total && mergesFailed === 0 ? 'done' : 'partial';
  return {
    state,
    ...(state === 'done' ? {} : { reason: parts.join(', ') }),
    ...(outputs.length === 0 ? {} : { outputs }),
  };
}

/** The workflow's catch-all: the task fails with the error that stopped it (or ends cancelled). */
export async function failTask(
  deps: Pick<Deps, 'tasks' | 'clock' | 'policies'>,
  taskId: string,
  error: { Error?: string; Cause?: string } | undefined,
): Promise<{ state: TaskState }> {
  const head = await loadHead(deps, taskId);
  if (isFinalTaskState(head.state)) return { state: head.state };
  const at = deps.clock.now().toISOString();
  await deps.policies.deactivate(taskId);
  if (head.cancelRequested) {
    await deps.tasks.transition(taskId, 'cancel', { at, reason: 'cancelled by its owner' });
    return { state: 'cancelled' };
  }
  await deps.tasks.transition(taskId, 'fail', { at, reason: describeError(error) });
  return { state: 'failed' };
}

/** Step Functions gives `{Error, Cause}`; Cause of a Lambda error is JSON with errorMessage. */
export function describeError(error: { Error?: string; Cause?: string } | undefined): string {
  if (error === undefined) return 'the task workflow failed';
  let message = error.Cause ?? '';
  try {
    const cause = JSON.parse(message) as { errorMessage?: string };
    if (typeof cause.errorMessage === 'string') message = cause.errorMessage;
  } catch {
    // Cause is plain text
  }
  return (
    [error.Error, message].filter((s) => s !== undefined && s !== '').join(': ') || 'the task workflow failed'
  );
}
