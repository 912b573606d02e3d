/**
 * The event-service steps of the task workflow (statemachines/task.asl.json): make the task's
 * range queue and send its ranges a page at a time, start the merge once every consumer ended,
 * delete the queues at the end. Every step is idempotent: a restarted execution runs them again
 * from the start and nothing is done twice (a range sent twice is counted once).
 */
import type { Deps } from '../deps.ts';
import { NotFoundError } from '../errors.ts';
import { jobMessage } from '../jobs/job-message.ts';
import { jobSites } from '../policies/site-assignment.ts';
import { isFinalTaskState, type TaskHead } from '../tasks/task.ts';
import type { TaskSpec } from '../tasks/task-spec.ts';
import { rangeAt, rangeMessages } from './event-range.ts';

export interface RangeProgress {
  nextRange: number;
  done: boolean;
}

async function load(deps: Pick<Deps, 'tasks'>, taskId: string): Promise<{ head: TaskHead; spec: TaskSpec }> {
  const [head, spec] = await Promise.all([deps.tasks.getHead(taskId), deps.tasks.getSpec(taskId)]);
  if (head === undefined || spec === undefined) throw new NotFoundError(`task ${taskId} not found`);
  return { head, spec };
}

/**
 * Creates the task's range queue (first page) and sends one page of ranges, `rangesPerMessage`
 * to a message, then records the progress. Nothing is written per range.
 */
export async function enqueueRanges(
  deps: Pick<Deps, 'tasks' | 'rangeQueue' | 'clock' | 'settings'>,
  taskId: string,
  nextRange: number,
): Promise<RangeProgress> {
  const { head, spec } = await load(deps, taskId);
  const es = spec.eventService;
  const total = head.rangeCount ?? 0;
  if (es === undefined || head.cancelRequested || isFinalTaskState(head.state))
    return { nextRange: total, done: true };
  const from = Math.max(nextRange, head.rangesEnqueued ?? 0);
  if (from >= total) return { nextRange: total, done: true };
  await deps.rangeQueue.ensureTaskQueue(taskId, { visibilitySec: deps.settings.rangeLeaseSec });
  const end = Math.min(total, from + deps.settings.rangePageSize);
  const ranges = [];
  for (let i = from; i < end; i++) ranges.push({ ...rangeAt(spec, i), attempt: 1 });
  await deps.rangeQueue.send(taskId, rangeMessages(taskId, ranges, es.rangesPerMessage));
  await deps.tasks.recordRangesEnqueued(taskId, end, deps.clock.now().toISOString());
  return { nextRange: end, done: end >= total };
}

/**
 * After every consumer ended: adds the merge jobs (once) and sends their messages, so the
 * workflow waits for them; `waiting: false` when there is nothing (more) to merge — not an
 * event-service task, no merge in its spec, cancelled, no range finished, or merged already.
 */
export async function mergeRanges(
  deps: Pick<Deps, 'tasks' | 'queue' | 'clock'>,
  taskId: string,
): Promise<{ waiting: boolean }> {
  const { head, spec } = await load(deps, taskId);
  const es = spec.eventService;
  if (es?.merge === undefined || head.cancelRequested || isFinalTaskState(head.state))
    return { waiting: false };
  const progress = await deps.tasks.getProgress(taskId);
  if (progress === undefined) throw new NotFoundError(`task ${taskId} not found`);
  const mergeJobs = head.mergeJobs ?? Math.ceil((head.rangeCount ?? 0) / es.merge.rangesPerJob);
  if (head.mergeJobs === undefined) {
    if (progress.rangeCounters.finished === 0) return { waiting: false };
    const at = deps.clock.now().toISOString();
    await deps.tasks.startMerge(taskId, { consumers: es.consumers, mergeJobs, at });
  } else if (head.jobsEnqueued >= es.consumers + mergeJobs) {
    // Merged (or merging) already: a replayed step after the wait.
    return { waiting: false };
  }
  const now = deps.clock.now();
  const siteOf = jobSites(head);
  const messages = [];
  for (let m = 0; m < mergeJobs; m++) {
    const jobIndex = es.consumers + m;
    messages.push(
      jobMessage({ taskId, jobIndex, attempt: 1 }, siteOf(jobIndex) as string, now.getTime(), spec.resources),
    );
  }
  await deps.queue.send(messages);
  await deps.tasks.recordEnqueued(taskId, es.consumers + mergeJobs, now.toISOString());
  return { waiting: true };
}

/** Deletes an event-service task's range queue and DLQ once the task ended (or failed). */
export async function closeRangeQueue(
  deps: Pick<Deps, 'tasks' | 'rangeQueue'>,
  taskId: string,
): Promise<{ closed: boolean }> {
  const spec = await deps.tasks.getSpec(taskId);
  if (spec?.eventService === undefined) return { closed: false };
  await deps.rangeQueue.deleteTaskQueues(taskId);
  return { closed: true };
}
