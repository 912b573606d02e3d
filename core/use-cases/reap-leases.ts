import { PILOT_ERROR_CODES } from '../model/pilot-error-codes.ts';
import type { Task } from '../model/task.ts';
import type { Deps } from './deps.ts';
import { endAttempt } from './end-attempt.ts';

const PAGE = 200;

/**
 * The reaper: jobs whose lease expired (their pilot vanished) become a new attempt, or fail once
 * attempts are spent; pilots silent for too long are marked lost.
 */
export async function reapLeases(
  deps: Pick<Deps, 'tasks' | 'jobs' | 'pilots' | 'queue' | 'workflow' | 'clock' | 'settings'>,
): Promise<{ jobsReaped: number; pilotsLost: number }> {
  const now = deps.clock.now();
  const expired = await deps.jobs.listExpiredLeases(now.getTime(), PAGE);
  const tasks = new Map<string, Task | undefined>();
  let jobsReaped = 0;
  for (const listed of expired) {
    const job = await deps.jobs.get(listed.taskId, listed.jobIndex);
    if (job === undefined || job.leaseExpiresAt === undefined || job.leaseExpiresAt >= now.getTime())
      continue;
    if (job.state !== 'starting' && job.state !== 'running') continue;
    if (!tasks.has(job.taskId)) tasks.set(job.taskId, await deps.tasks.get(job.taskId));
    const task = tasks.get(job.taskId);
    if (task === undefined) continue;
    const result = await endAttempt(deps, job, task, {
      attemptState: 'lost',
      pilotErrorCode: PILOT_ERROR_CODES.PILOT_LOST,
      errorMessage: `no heartbeat from pilot ${job.pilotId ?? '?'} since the lease expired at ${new Date(job.leaseExpiresAt).toISOString()}`,
    });
    if (result.outcome === 'ok') jobsReaped++;
  }
  const lost = await deps.pilots.markLost(
    new Date(now.getTime() - deps.settings.pilotLostSec * 1000).toISOString(),
  );
  return { jobsReaped, pilotsLost: lost.length };
}
