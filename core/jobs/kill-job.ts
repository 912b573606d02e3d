import type { KillJobResponse } from '../api/tasks.ts';
import type { Deps, Principal } from '../deps.ts';
import { ConflictError, NotFoundError } from '../errors.ts';
import { killEntry } from '../pilots/pilot.ts';
import { PILOT_ERROR_CODES } from '../pilots/pilot-error-codes.ts';
import { siteForJob } from '../policies/site-assignment.ts';
import { isFinalTaskState } from '../tasks/task.ts';
import { ownedTaskHead } from '../tasks/task-access.ts';
import { attemptKey, isFinalJobState } from './job.ts';

/**
 * The owner kills one job of a task that runs on. A job not started yet is cancelled at once (its
 * record is written `cancelled`, fenced on being absent or queued, so a claim racing it finds it
 * cancelled); a running job's pilot is told through its lease to kill it, and its report ends the
 * job `cancelled` (1401). The task ends `partial` when its other jobs finish.
 */
export async function killJob(
  deps: Pick<Deps, 'tasks' | 'jobs' | 'leases' | 'clock'>,
  principal: Principal,
  taskId: string,
  jobIndex: number,
): Promise<KillJobResponse> {
  const head = await ownedTaskHead(deps.tasks, principal, taskId);
  if (jobIndex >= head.jobCount) throw new NotFoundError(`task ${taskId} has no job ${jobIndex}`);
  if (isFinalTaskState(head.state)) throw new ConflictError(`task ${taskId} is already ${head.state}`);
  const at = deps.clock.now().toISOString();
  for (let tries = 0; tries < 3; tries++) {
    const record = await deps.jobs.get(taskId, jobIndex);
    if (record !== undefined && isFinalJobState(record.state))
      throw new ConflictError(`job ${jobIndex} of task ${taskId} is already ${record.state}`);
    if (record?.state === 'running' && record.pilotId !== undefined) {
      await deps.leases.addKills(record.pilotId, [killEntry(attemptKey(record), 'cancelled')]);
      return { taskId, jobIndex, state: 'running', killRequested: true };
    }
    const written = await deps.jobs.update(
      { taskId, jobIndex },
      {
        set: {
          state: 'cancelled',
          attempt: record?.attempt ?? 1,
          failures: record?.failures ?? 0,
          siteId: record?.siteId ?? siteForJob(head, jobIndex) ?? 'none',
          pilotErrorCode: PILOT_ERROR_CODES.CANCELLED,
          errorMessage: 'killed by its owner',
          endedAt: at,
          updatedAt: at,
        },
      },
      record === undefined ? ['absent'] : [{ state: 'queued', attempt: record.attempt }],
    );
    if (written === 'ok') return { taskId, jobIndex, state: 'cancelled', killRequested: true };
    // A claim or a report moved the job meanwhile: look again.
  }
  throw new ConflictError(`job ${jobIndex} of task ${taskId} keeps changing; try again`);
}
