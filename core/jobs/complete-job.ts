import type { CompleteResponse, Report } from '../api/pilots.ts';
import type { Deps, Principal } from '../deps.ts';
import { killEntriesOf, leaseExpiry } from '../pilots/lease.ts';
import { pilotSiteOf } from '../pilots/pilot-access.ts';
import { PILOT_ERROR_CODES, type PilotErrorCode } from '../pilots/pilot-error-codes.ts';
import { type AttemptResult, abandonClaim, endAttempt, optional } from './end-attempt.ts';
import { attemptKey, type JobRef } from './job.ts';

/**
 * A pilot reports the end of an attempt, and says which attempts it still holds (its lease then
 * lists exactly these). Replays are safe: a report already recorded answers `recorded` again;
 * a report for an attempt the pilot no longer holds is `stale`.
 */
export async function completeJob(
  deps: Pick<Deps, 'tasks' | 'jobs' | 'sites' | 'leases' | 'clock' | 'settings' | 'retryPolicies'>,
  principal: Principal,
  pilotId: string,
  request: Report & { holds: JobRef[] },
): Promise<CompleteResponse> {
  const outcome = await recordReport(deps, principal, pilotId, request);
  await deps.leases.hold(pilotId, {
    jobs: request.holds.map(attemptKey),
    state: request.holds.length > 0 ? 'busy' : 'idle',
    expiresAt: leaseExpiry(deps.clock.now().getTime(), deps.settings.leaseSec),
    ...optional('siteId', pilotSiteOf(principal)),
    dropKills: killEntriesOf(request),
  });
  // A pilot gone meanwhile (hold answers undefined) learns it from its next heartbeat; the report stands.
  return outcome;
}

/** Records one report (for completeJob, and for a claim that carries the previous attempt's report). */
export async function recordReport(
  deps: Pick<Deps, 'tasks' | 'jobs' | 'sites' | 'leases' | 'clock' | 'retryPolicies'>,
  principal: Principal,
  pilotId: string,
  report: Report,
): Promise<CompleteResponse> {
  const siteId = pilotSiteOf(principal);
  const ended = await endAttempt(deps, report, pilotId, attemptResult(report), optional('siteId', siteId));
  if (ended.outcome === 'ok')
    return { outcome: 'recorded', jobState: ended.jobState, attempt: ended.attempt };
  if (report.pilotErrorCode === PILOT_ERROR_CODES.CLAIM_ABANDONED) {
    // The pilot never heard its claim's answer and the claim did not land: fence it, so it never will.
    const site = siteId ?? (await deps.leases.get(pilotId))?.siteId;
    if (site !== undefined && (await abandonClaim(deps, report, pilotId, site)) === 'ok') {
      return { outcome: 'recorded', jobState: 'queued', attempt: report.attempt + 1 };
    }
  }
  return replayOrStale(deps, pilotId, report);
}

/**
 * The report's attempt is not held by this pilot any more. When that is because this very report
 * was recorded already (a retried call whose answer was lost), the answer is the same as then.
 */
async function replayOrStale(
  deps: Pick<Deps, 'jobs'>,
  pilotId: string,
  report: Report,
): Promise<CompleteResponse> {
  const record = await deps.jobs.get(report.taskId, report.jobIndex);
  if (record === undefined) return { outcome: 'stale', reason: 'the job was never claimed' };
  const { state, ended } = record;
  const endedHere =
    state !== 'running' &&
    state !== 'queued' &&
    record.attempt === report.attempt &&
    record.pilotId === pilotId;
  if (endedHere) return { outcome: 'recorded', jobState: state, attempt: record.attempt };
  // The attempt this pilot ended as this report says (a give-back too), and the next one is queued;
  // the reaper's `lost`, or a claim given back and reported as run, are not this report's doing.
  const retriedHere =
    state === 'queued' &&
    record.attempt === report.attempt + 1 &&
    ended?.attempt === report.attempt &&
    ended.pilotId === pilotId &&
    ended.state === attemptResult(report).state &&
    ended.pilotErrorCode === report.pilotErrorCode;
  if (retriedHere) return { outcome: 'recorded', jobState: 'queued', attempt: record.attempt };
  return { outcome: 'stale', reason: `the job is ${record.state} at attempt ${record.attempt}` };
}

/** The attempt's end as the pilot's error code says it. */
export function attemptResult(report: Report): AttemptResult {
  const code = report.pilotErrorCode as PilotErrorCode;
  return {
    state:
      code === PILOT_ERROR_CODES.OK
        ? 'finished'
        : code === PILOT_ERROR_CODES.EVICTED
          ? 'evicted'
          : code === PILOT_ERROR_CODES.CANCELLED
            ? 'cancelled'
            : code === PILOT_ERROR_CODES.CLAIM_ABANDONED
              ? 'abandoned'
              : 'failed',
    pilotErrorCode: code,
    ...optional('exitCode', report.exitCode),
    ...optional('signal', report.signal),
    ...optional('errorMessage', report.errorMessage),
    usage: report.usage,
    ...optional('outputs', report.outputs.length > 0 ? report.outputs : undefined),
    ...optional('log', report.log),
    ...optional('host', report.host),
  };
}
