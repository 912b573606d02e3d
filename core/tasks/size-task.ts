/**
 * The sizing step of the task workflow (statemachines/task.asl.json), after every wait for jobs of
 * a task without event service. A scouted task starts with its scouts only; once they are all
 * final this step sizes the rest from what they measured (core/tasks/scout-sizing.ts), records the
 * sizing and the added jobs on the task in one fenced write, and hands them to dispatch; the
 * workflow waits again. Idempotent: a replay finds the sizing stored and does nothing twice.
 */
import type { Deps } from '../deps.ts';
import { NotFoundError } from '../errors.ts';
import type { JobRecord } from '../jobs/job.ts';
import { allJobsFinal } from '../jobs/job-counts.ts';
import { dispatchJobs } from '../policies/dispatch-jobs.ts';
import {
  type ScoutPlan,
  type ScoutResult,
  scoutPlan,
  sizeFromScouts,
  type TaskSizing,
} from './scout-sizing.ts';
import { jobAt, jobResources } from './split-task.ts';
import { isFinalTaskState } from './task.ts';
import type { TaskSpec } from './task-spec.ts';
import { dispatchEntry, loadHead } from './task-workflow.ts';

/**
 * `waiting: true` when jobs were added (or are still to end) and the workflow must wait for them;
 * false for a task that is not scouted, ended, cancelled, whose scouts all failed (it is failed
 * here, with their errors), or whose jobs are all final.
 */
export async function sizeTask(
  deps: Pick<Deps, 'tasks' | 'jobs' | 'sites' | 'policies' | 'queue' | 'clock' | 'accounting'>,
  taskId: string,
): Promise<{ waiting: boolean }> {
  let head = await loadHead(deps, taskId);
  if (head.cancelRequested || isFinalTaskState(head.state)) return { waiting: false };
  const spec = await deps.tasks.getSpec(taskId);
  if (spec === undefined) throw new NotFoundError(`task ${taskId} has no spec`);
  const plan = scoutPlan(spec);
  if (plan === undefined) return { waiting: false };

  if (head.sizing === undefined) {
    if (!(await allFinal(deps, taskId))) return { waiting: true };
    const at = deps.clock.now().toISOString();
    const { records } = await deps.jobs.list(taskId, 0, plan.scouts);
    const outcome = sizeFromScouts({
      plan,
      scouts: scoutResults(spec, plan, records),
      ...(await smallestSlot(deps, head.siteIds)),
    });
    if (outcome.outcome === 'failed') {
      // Stop here, instead of running every job into the same wall.
      await deps.policies.deactivate(taskId);
      await deps.tasks.transition(taskId, 'fail', { at, reason: outcome.reason });
      return { waiting: false };
    }
    const sizing: TaskSizing = { ...outcome.sizing, at };
    await deps.tasks.recordSizing(taskId, { scouts: plan.scouts, sizing });
    // Refused or not, the stored head says what happened: sized (by this step or a replay), or ended.
    head = await loadHead(deps, taskId);
    if (head.sizing === undefined) return { waiting: false };
  }
  if (head.sizing.jobs === 0 || (await allFinal(deps, taskId))) return { waiting: false };
  // A task that left dispatch meanwhile (a resubmit reopened it) comes back with its cursor.
  await deps.policies.activate(dispatchEntry(head, spec));
  // The jobs released from now on are past the scouts: they need the sized memory (their class follows).
  await deps.policies.extendActive(taskId, {
    jobCount: head.jobCount,
    memoryMB: jobResources(spec, head.sizing, head.jobCount - 1).memoryMB,
  });
  await dispatchJobs(deps);
  return { waiting: true };
}

async function allFinal(deps: Pick<Deps, 'tasks'>, taskId: string): Promise<boolean> {
  const progress = await deps.tasks.getProgress(taskId);
  if (progress === undefined) throw new NotFoundError(`task ${taskId} not found`);
  return allJobsFinal(progress, progress.counts);
}

/** The scouts as their records left them; a scout without a record never ran (killed before its claim). */
function scoutResults(spec: TaskSpec, plan: ScoutPlan, records: readonly JobRecord[]): ScoutResult[] {
  const byIndex = new Map(records.map((r) => [r.jobIndex, r]));
  return Array.from({ length: plan.scouts }, (_, jobIndex) => {
    const parameters = jobAt(spec, jobIndex);
    const units = plan.unit === 'event' ? (parameters.nEvents ?? 0) : (parameters.inputs?.length ?? 0);
    const record = byIndex.get(jobIndex);
    const state =
      record?.state === 'finished' || record?.state === 'failed' ? record.state : ('cancelled' as const);
    return {
      state,
      units,
      ...(record?.usage === undefined ? {} : { usage: record.usage }),
      ...(record?.pilotErrorCode === undefined ? {} : { pilotErrorCode: record.pilotErrorCode }),
      ...(record?.exitCode === undefined ? {} : { exitCode: record.exitCode }),
    };
  });
}

/** The smallest slot memory of the task's sites: dispatch may send any of its jobs to any of them. */
async function smallestSlot(
  deps: Pick<Deps, 'sites'>,
  siteIds: readonly string[],
): Promise<{ slotMemoryMB?: number }> {
  const sites = await Promise.all(siteIds.map((s) => deps.sites.get(s)));
  const memory = sites.flatMap((s) => (s === undefined ? [] : [s.slot.memoryMB]));
  return memory.length === 0 ? {} : { slotMemoryMB: Math.min(...memory) };
}
