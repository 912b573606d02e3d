/**
 * The steps of the task workflow (statemachines/task.asl.json). Every step is idempotent: a
 * restarted execution runs them again from the start and nothing is done twice.
 */

import type { Deps } from '../deps.ts';
import { NoSiteError, NotFoundError } from '../errors.ts';
import { type Job, jobIdOf } from '../jobs/job.ts';
import type { JobMessage } from '../jobs/job-message.ts';
import { brokerTask, describeNoSite } from '../policies/broker-task.ts';
import { releaseFinishedTask } from './release-finished-task.ts';
import { jobPage } from './split-task.ts';
import { finalTaskState, isFinalTaskState, type Task, type TaskState } from './task.ts';
import { taskEventTo } from './transitions.ts';

export interface Progress {
  nextIndex: number;
  done: boolean;
}

async function loadTask(deps: Pick<Deps, 'tasks'>, taskId: string): Promise<Task> {
  const task = await deps.tasks.get(taskId);
  if (task === undefined) throw new NotFoundError(`task ${taskId} not found`);
  return task;
}

/** submitted → splitting; brokerage chooses the sites. Resumes where enqueueing stopped. */
export async function splitTask(
  deps: Pick<Deps, 'tasks' | 'sites' | 'clock'>,
  taskId: string,
): Promise<Progress> {
  const task = await loadTask(deps, taskId);
  if (isFinalTaskState(task.state)) return { nextIndex: task.jobsEnqueued, done: true };
  if (task.cancelRequested) return { nextIndex: task.jobsEnqueued, done: true };
  if (task.state === 'submitted') {
    const brokerage = brokerTask(task.spec, await deps.sites.list());
    if (brokerage.siteIds.length === 0) throw new NoSiteError(describeNoSite(brokerage));
    await deps.tasks.transition(taskId, 'split', {
      at: deps.clock.now().toISOString(),
      siteIds: brokerage.siteIds,
      jobCount: task.jobCount,
    });
  }
  return { nextIndex: task.jobsEnqueued, done: task.jobsEnqueued >= task.jobCount };
}

/** Writes one page of jobs (queued, attempt 1) and sends their messages; splitting → running after the first. */
export async function enqueueJobs(
  deps: Pick<Deps, 'tasks' | 'jobs' | 'queue' | 'clock' | 'settings'>,
  taskId: string,
  nextIndex: number,
): Promise<Progress> {
  const task = await loadTask(deps, taskId);
  if (task.cancelRequested || isFinalTaskState(task.state)) return { nextIndex, done: true };
  const siteIds = task.siteIds;
  // splitTask brokered the task before its first page; a task without sites cannot be enqueued.
  if (siteIds.length === 0) throw new NoSiteError(`task ${taskId} has no brokered site`);
  const now = deps.clock.now();
  const at = now.toISOString();
  const dispatchLease = now.getTime() + deps.settings.dispatchLeaseSec * 1000;
  const page = jobPage(task.spec, nextIndex, deps.settings.enqueuePageSize);
  const jobs: Job[] = page.map((parameters) => ({
    ...parameters,
    taskId,
    jobId: jobIdOf(taskId, parameters.jobIndex),
    owner: task.owner,
    state: 'queued',
    attempt: 1,
    failures: 0,
    siteId: siteIds[parameters.jobIndex % siteIds.length] as string,
    createdAt: at,
    updatedAt: at,
    queuedAt: at,
    leaseExpiresAt: dispatchLease,
    attempts: [],
  }));
  await deps.jobs.createQueued(jobs);
  const messages: JobMessage[] = jobs.map((j) => ({
    v: 1,
    taskId,
    jobIndex: j.jobIndex,
    attempt: 1,
    siteId: j.siteId,
  }));
  await deps.queue.send(messages);
  const end = nextIndex + jobs.length;
  await deps.tasks.recordEnqueued(taskId, end, at);
  if (task.state === 'splitting') await deps.tasks.transition(taskId, 'run', { at });
  return { nextIndex: end, done: end >= task.jobCount };
}

/** Stores the workflow's task token, then releases it at once if every job is already final. */
export async function waitForJobs(
  deps: Pick<Deps, 'tasks' | 'workflow'>,
  taskId: string,
  taskToken: string,
): Promise<void> {
  await loadTask(deps, taskId);
  await deps.tasks.storeWaitToken(taskId, taskToken);
  await releaseFinishedTask(deps, taskId);
}

/** Sets the final state from the counts: done, partial, failed, or cancelled. */
export async function finalizeTask(
  deps: Pick<Deps, 'tasks' | 'clock'>,
  taskId: string,
): Promise<{ state: TaskState }> {
  const task = await loadTask(deps, taskId);
  if (isFinalTaskState(task.state)) return { state: task.state };
  const state = finalTaskState(task, task.counts);
  const c = task.counts;
  const reason =
    state === 'done'
      ? undefined
      : `${c.finished} finished, ${c.failed} failed, ${c.cancelled} cancelled of ${task.jobCount}`;
  const moved = await deps.tasks.transition(
    taskId,
    taskEventTo(state as 'done' | 'partial' | 'failed' | 'cancelled'),
    {
      at: deps.clock.now().toISOString(),
      ...(reason === undefined ? {} : { reason }),
    },
  );
  // Refused: something else ended the task meanwhile (a replayed step); report what it is now.
  return moved ? { state } : { state: (await loadTask(deps, taskId)).state };
}

/** The workflow's catch-all: the task fails with the error that stopped it (or ends cancelled). */
export async function failTask(
  deps: Pick<Deps, 'tasks' | 'clock'>,
  taskId: string,
  error: { Error?: string; Cause?: string } | undefined,
): Promise<{ state: TaskState }> {
  const task = await loadTask(deps, taskId);
  if (isFinalTaskState(task.state)) return { state: task.state };
  const at = deps.clock.now().toISOString();
  if (task.cancelRequested) {
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
