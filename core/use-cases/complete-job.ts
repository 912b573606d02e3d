import type { CompleteResponse } from '../api.ts';
import { CompleteRequestSchema } from '../api.ts';
import { fieldIssues, ValidationError } from '../errors.ts';
import { LEASED_JOB_STATES } from '../model/job.ts';
import { PILOT_ERROR_CODES, type PilotErrorCode } from '../model/pilot-error-codes.ts';
import type { Deps, Principal } from './deps.ts';
import { endAttempt } from './end-attempt.ts';
import { knownPilot } from './pilot-access.ts';

/**
 * A pilot reports the end of an attempt. Replays are safe: a report for an attempt that is not
 * held any more is 'stale'; a replayed retry re-sends the next attempt's message (duplicates are
 * no-ops for pilots), so a message lost between the write and the send is healed by the retry.
 */
export async function completeJob(
  deps: Pick<Deps, 'tasks' | 'jobs' | 'pilots' | 'queue' | 'workflow' | 'clock'>,
  principal: Principal,
  pilotId: string,
  body: unknown,
): Promise<CompleteResponse> {
  const parsed = CompleteRequestSchema.safeParse(body);
  if (!parsed.success) throw new ValidationError('invalid completion report', fieldIssues(parsed.error.issues));
  const report = parsed.data;
  await knownPilot(deps.pilots, principal, pilotId);
  const job = await deps.jobs.get(report.taskId, report.jobIndex);
  if (job === undefined) return { outcome: 'stale', reason: 'no such job' };
  const held = LEASED_JOB_STATES.has(job.state) && job.attempt === report.attempt && job.pilotId === pilotId;
  if (!held) {
    const last = job.attempts.at(-1);
    const retriedByThisReport =
      job.state === 'queued' && job.attempt === report.attempt + 1 && last?.pilotId === pilotId && last.attempt === report.attempt;
    if (retriedByThisReport) {
      await deps.queue.send([{ v: 1, taskId: job.taskId, jobIndex: job.jobIndex, attempt: job.attempt, siteId: job.siteId }]);
      return { outcome: 'recorded', jobState: 'queued', attempt: job.attempt };
    }
    return { outcome: 'stale', reason: `job is ${job.state} at attempt ${job.attempt}` };
  }
  const task = await deps.tasks.get(report.taskId);
  if (task === undefined) return { outcome: 'stale', reason: 'no such task' };
  const code = report.pilotErrorCode as PilotErrorCode;
  const result = await endAttempt(deps, job, task, {
    attemptState:
      code === PILOT_ERROR_CODES.OK
        ? 'finished'
        : code === PILOT_ERROR_CODES.EVICTED
          ? 'evicted'
          : code === PILOT_ERROR_CODES.CANCELLED
            ? 'cancelled'
            : 'failed',
    pilotErrorCode: code,
    ...(report.exitCode === undefined ? {} : { exitCode: report.exitCode }),
    ...(report.signal === undefined ? {} : { signal: report.signal }),
    ...(report.errorMessage === undefined ? {} : { errorMessage: report.errorMessage }),
    usage: report.usage,
    outputs: report.outputs,
    ...(report.logKey === undefined ? {} : { logKey: report.logKey }),
    ...(report.host === undefined ? {} : { host: report.host }),
  });
  if (result.outcome === 'conflict') return { outcome: 'stale', reason: 'the job changed meanwhile' };
  await deps.pilots.countJob(pilotId);
  await deps.pilots.heartbeat(pilotId, { state: 'idle', at: deps.clock.now().toISOString() });
  return { outcome: 'recorded', jobState: result.jobState, attempt: result.attempt };
}
