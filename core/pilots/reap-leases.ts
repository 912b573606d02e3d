import type { Deps } from '../deps.ts';
import { endAttempt } from '../jobs/end-attempt.ts';
import type { Task } from '../tasks/task.ts';
import { PILOT_ERROR_CODES } from './pilot-error-codes.ts';

const PAGE = 200;

/**
 * The reaper and reconciler. DynamoDB is the source of truth and SQS only a dispatch channel:
 * - a starting/running job whose run lease expired (its pilot vanished) becomes a new attempt, or
 *   fails once attempts are spent;
 * - a queued job whose message went unclaimed for the dispatch lease (lost, redriven to the DLQ,
 *   or refused as unfit too often) gets its message sent again (a duplicate is a no-op);
 * - pilots silent for too long are marked lost.
 */
export async function reapLeases(
  deps: Pick<Deps, 'tasks' | 'jobs' | 'pilots' | 'sites' | 'queue' | 'workflow' | 'clock' | 'settings'>,
): Promise<{ jobsReaped: number; jobsRedispatched: number; pilotsLost: number }> {
  const now = deps.clock.now();
  const expired = await deps.jobs.listExpiredLeases(now.getTime(), PAGE);
  const tasks = new Map<string, Task | undefined>();
  let jobsReaped = 0;
  let jobsRedispatched = 0;
  for (const listed of expired) {
    const job = await deps.jobs.get(listed.taskId, listed.jobIndex);
    if (job === undefined || job.leaseExpiresAt === undefined || job.leaseExpiresAt >= now.getTime())
      continue;
    if (job.state === 'queued') {
      const renewed = await deps.jobs.renewDispatch(
        job,
        now.getTime() + deps.settings.dispatchLeaseSec * 1000,
        now.toISOString(),
      );
      if (!renewed) continue;
      await deps.queue.send([
        { v: 1, taskId: job.taskId, jobIndex: job.jobIndex, attempt: job.attempt, siteId: job.siteId },
      ]);
      jobsRedispatched++;
      continue;
    }
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
  return { jobsReaped, jobsRedispatched, pilotsLost: lost.length };
}
