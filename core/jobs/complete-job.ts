import type { z } from 'zod';
import type { CompleteResponse } from '../api/contract.ts';
import { CompleteRequestSchema } from '../api/contract.ts';
import type { Deps, Principal } from '../deps.ts';
import { fieldIssues, ValidationError } from '../errors.ts';
import { knownPilot } from '../pilots/pilot-access.ts';
import { PILOT_ERROR_CODES, type PilotErrorCode } from '../pilots/pilot-error-codes.ts';
import { type AttemptResult, endAttempt, optional } from './end-attempt.ts';
import { type Job, LEASED_JOB_STATES } from './job.ts';

type CompleteReport = z.infer<typeof CompleteRequestSchema>;

/**
 * A pilot reports the end of an attempt. Replays are safe: a report for an attempt that is not
 * held any more is 'stale'; a replayed retry re-sends the next attempt's message (duplicates are
 * no-ops for pilots), so a message lost between the write and the send is healed by the retry.
 */
export async function completeJob(
  deps: Pick<Deps, 'tasks' | 'jobs' | 'pilots' | 'sites' | 'queue' | 'workflow' | 'clock' | 'settings'>,
  principal: Principal,
  pilotId: string,
  body: unknown,
): Promise<CompleteResponse> {
  const parsed = CompleteRequestSchema.safeParse(body);
  if (!parsed.success)
    throw new ValidationError('invalid completion report', fieldIssues(parsed.error.issues));
  const report = parsed.data;
  await knownPilot(deps.pilots, principal, pilotId);
  // A heartbeat of the same pilot may move the job starting → running between our read and our
  // write; the fenced write then fails, and we read again while the attempt is still ours.
  for (let tries = 0; ; tries++) {
    const job = await deps.jobs.get(report.taskId, report.jobIndex);
    if (job === undefined) return { outcome: 'stale', reason: 'no such job' };
    const held =
      LEASED_JOB_STATES.has(job.state) && job.attempt === report.attempt && job.pilotId === pilotId;
    if (!held) return staleOrResent(deps, job, pilotId, report.attempt);
    const task = await deps.tasks.get(report.taskId);
    if (task === undefined) return { outcome: 'stale', reason: 'no such task' };
    const result = await endAttempt(deps, job, task, attemptResult(report));
    if (result.outcome === 'ok') {
      await deps.pilots.jobEnded(pilotId, deps.clock.now().toISOString());
      return { outcome: 'recorded', jobState: result.jobState, attempt: result.attempt };
    }
    if (tries >= MAX_TRIES) return { outcome: 'stale', reason: 'the job changed meanwhile' };
  }
}

const MAX_TRIES = 3;

/**
 * The report is for an attempt this pilot no longer holds. If that is because this very report
 * was already recorded as a retry, the next attempt's message is sent again (a lost send is healed;
 * duplicates are no-ops for pilots).
 */
async function staleOrResent(
  deps: Pick<Deps, 'queue'>,
  job: Job,
  pilotId: string,
  attempt: number,
): Promise<CompleteResponse> {
  const last = job.attempts.at(-1);
  const retriedByThisReport =
    job.state === 'queued' &&
    job.attempt === attempt + 1 &&
    last?.pilotId === pilotId &&
    last.attempt === attempt &&
    last.state !== 'lost';
  if (retriedByThisReport) {
    await deps.queue.send([
      { v: 1, taskId: job.taskId, jobIndex: job.jobIndex, attempt: job.attempt, siteId: job.siteId },
    ]);
    return { outcome: 'recorded', jobState: 'queued', attempt: job.attempt };
  }
  return { outcome: 'stale', reason: `job is ${job.state} at attempt ${job.attempt}` };
}

function attemptResult(report: CompleteReport): AttemptResult {
  const code = report.pilotErrorCode as PilotErrorCode;
  return {
    attemptState:
      code === PILOT_ERROR_CODES.OK
        ? 'finished'
        : code === PILOT_ERROR_CODES.EVICTED
          ? 'evicted'
          : code === PILOT_ERROR_CODES.CANCELLED
            ? 'cancelled'
            : 'failed',
    pilotErrorCode: code,
    ...optional('exitCode', report.exitCode),
    ...optional('signal', report.signal),
    ...optional('errorMessage', report.errorMessage),
    usage: report.usage,
    outputs: report.outputs,
    ...optional('logKey', report.logKey),
    ...optional('logArchive', report.logArchive),
    ...optional('host', report.host),
  };
}
