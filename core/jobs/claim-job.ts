import type { ClaimRequest, ClaimResponse } from '../api/contract.ts';
import type { Deps, Principal } from '../deps.ts';
import type { PilotResources } from '../pilots/pilot.ts';
import { livePilot } from '../pilots/pilot-access.ts';
import { releaseFinishedTask } from '../tasks/release-finished-task.ts';
import { jobInputs } from '../tasks/split-task.ts';
import type { Resources } from '../tasks/task-spec.ts';
import { effectiveResources } from './end-attempt.ts';

/**
 * A pilot claims the job named by a queue message: queued → starting with the pilot and a lease,
 * fenced on attempt. A duplicate or stale message gets 'stale'; a cancelled task's job is
 * cancelled here and the message is to be acknowledged.
 */
export async function claimJob(
  deps: Pick<Deps, 'tasks' | 'jobs' | 'pilots' | 'workflow' | 'clock' | 'settings'>,
  principal: Principal,
  pilotId: string,
  request: ClaimRequest,
): Promise<ClaimResponse> {
  const pilot = await livePilot(deps.pilots, principal, pilotId);
  const job = await deps.jobs.get(request.taskId, request.jobIndex);
  if (job === undefined) return { outcome: 'stale', reason: 'no such job' };
  if (job.state !== 'queued' || job.attempt !== request.attempt) {
    return { outcome: 'stale', reason: `job is ${job.state} at attempt ${job.attempt}` };
  }
  const task = await deps.tasks.get(request.taskId);
  if (task === undefined) return { outcome: 'stale', reason: 'no such task' };
  const resources = effectiveResources(task.spec.resources, job);
  const misfit = unfit(resources, request.resources ?? pilot.resources);
  if (misfit !== undefined) return { outcome: 'unfit', reason: misfit };

  const now = deps.clock.now();
  const at = now.toISOString();
  const leaseExpiresAt = now.getTime() + deps.settings.leaseSec * 1000;
  const expected = { state: 'queued' as const, attempt: job.attempt };
  const outcome = await deps.jobs.transition({
    taskId: job.taskId,
    jobIndex: job.jobIndex,
    event: 'claim',
    expected,
    set: { pilotId, host: pilot.host, leaseExpiresAt, startedAt: at },
    unlessTaskCancelled: true,
    at,
  });
  if (outcome === 'conflict') return { outcome: 'stale', reason: 'claimed by another pilot' };
  if (outcome === 'task-cancelled') {
    const cancelled = await deps.jobs.transition({
      taskId: job.taskId,
      jobIndex: job.jobIndex,
      event: 'cancel',
      expected,
      set: { endedAt: at, errorMessage: 'cancelled by its owner' },
      at,
    });
    if (cancelled === 'ok') await releaseFinishedTask(deps, job.taskId);
    return { outcome: 'cancelled', reason: 'the task was cancelled' };
  }
  return {
    outcome: 'claimed',
    job: {
      taskId: job.taskId,
      jobId: job.jobId,
      jobIndex: job.jobIndex,
      attempt: job.attempt,
      ...(job.firstEvent === undefined ? {} : { firstEvent: job.firstEvent }),
      ...(job.nEvents === undefined ? {} : { nEvents: job.nEvents }),
      ...(job.inputFiles === undefined
        ? {}
        : { inputFiles: job.inputFiles, inputs: jobInputs(task.spec, job.jobIndex) }),
      payload: task.spec.payload,
      resources,
      outputs: task.spec.outputs,
      outputPrefix: outputPrefix(job.taskId, job.jobIndex, job.attempt),
      leaseExpiresAt,
    },
  };
}

export function outputPrefix(taskId: string, jobIndex: number, attempt: number): string {
  return `tasks/${taskId}/jobs/${jobIndex}/attempt-${attempt}/`;
}

/** Why a job needing `needs` does not fit a pilot offering `offer`, or undefined when it fits. */
export function unfit(needs: Resources, offer: PilotResources): string | undefined {
  if (needs.cores > offer.cores) return `needs ${needs.cores} cores, pilot has ${offer.cores}`;
  if (needs.memoryMB > offer.memoryMB) return `needs ${needs.memoryMB} MB, pilot has ${offer.memoryMB}`;
  if (needs.diskMB > offer.diskMB) return `needs ${needs.diskMB} MB disk, pilot has ${offer.diskMB}`;
  if (needs.walltimeSec > offer.walltimeLeftSec) {
    return `needs ${needs.walltimeSec} s walltime, pilot has ${offer.walltimeLeftSec} s left`;
  }
  return undefined;
}
