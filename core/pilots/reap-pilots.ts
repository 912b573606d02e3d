import type { Deps } from '../deps.ts';
import { abandonClaim, endAttempt } from '../jobs/end-attempt.ts';
import { type JobRef, parseAttemptKey } from '../jobs/job.ts';
import { RESOURCE_CLASSES } from '../jobs/resource-class.ts';
import { emptyCensus, type PilotCensus, type SiteRecord } from '../sites/site.ts';
import { isLeaseExpired } from './lease.ts';
import { isLivePilotState, type PilotLease } from './pilot.ts';
import { PILOT_ERROR_CODES } from './pilot-error-codes.ts';

/** A census older than this is written again even when nothing changed, so its time says it is current. */
const CENSUS_REFRESH_MS = 300_000;
/** Dead job messages moved back per site and sweep, and how long they stay invisible first. */
const REDRIVE = { max: 100, delaySec: 60 } as const;

export interface ReapReport {
  pilotsLost: number;
  pilotsExited: number;
  jobsRequeued: number;
  claimsAbandoned: number;
  deadLettersRedriven: number;
  pilotsLive: number;
}

/**
 * The reaper, one sweep over the pilot leases (a small table of live pilots, read in full):
 * - a live pilot whose lease expired is lost: each job it held is queued again as a new attempt
 *   (or fails once its attempts are spent), and a claim it left half-done is fenced;
 * - a pilot that exited is taken off the leases (anything it still held is queued again);
 * - the live pilots are counted per site and state (the census pilot factories are given);
 * - job messages that went to a site's DLQ (no pilot could take them in time) are sent again.
 * DynamoDB is the truth and SQS a dispatch channel: the messages of requeued jobs are sent by
 * the change feed of their records, so none is lost between a write and a send.
 */
export async function reapPilots(
  deps: Pick<Deps, 'tasks' | 'jobs' | 'sites' | 'leases' | 'pilots' | 'queue' | 'clock' | 'retryPolicies'>,
): Promise<ReapReport> {
  const now = deps.clock.now();
  const nowMs = now.getTime();
  const report: ReapReport = {
    pilotsLost: 0,
    pilotsExited: 0,
    jobsRequeued: 0,
    claimsAbandoned: 0,
    deadLettersRedriven: 0,
    pilotsLive: 0,
  };
  const census = new Map<string, PilotCensus>();
  const count = (lease: PilotLease) => {
    if (!isLivePilotState(lease.state)) return;
    const site = census.get(lease.siteId) ?? { ...emptyCensus(), classes: {}, idleClasses: {} };
    site[lease.state] += 1;
    const classes = site.classes ?? {};
    const idleClasses = site.idleClasses ?? {};
    const idle = lease.state === 'idle' || lease.state === 'starting';
    for (const c of lease.classes ?? []) {
      classes[c] = (classes[c] ?? 0) + 1;
      if (idle) idleClasses[c] = (idleClasses[c] ?? 0) + 1;
    }
    site.classes = classes;
    site.idleClasses = idleClasses;
    census.set(lease.siteId, site);
    report.pilotsLive += 1;
  };

  let cursor: string | undefined;
  do {
    const page = await deps.leases.scan(cursor);
    for (const lease of page.leases) {
      if (isLivePilotState(lease.state)) {
        if (!isLeaseExpired(lease, nowMs)) {
          count(lease);
          continue;
        }
        const lost = await deps.leases.markLost(lease.pilotId, nowMs);
        if (lost === undefined) {
          // Renewed since the sweep read it: still live.
          const current = await deps.leases.get(lease.pilotId);
          if (current !== undefined) count(current);
          continue;
        }
        await settle(deps, lost, report);
        report.pilotsLost += 1;
      } else {
        await settle(deps, lease, report);
        if (lease.state === 'exited') report.pilotsExited += 1;
        else report.pilotsLost += 1;
      }
    }
    cursor = page.cursor;
  } while (cursor !== undefined);

  const sites = await deps.sites.list();
  for (const site of sites) {
    const pilots = census.get(site.siteId) ?? emptyCensus();
    if (censusChanged(site, pilots, nowMs))
      await deps.sites.recordCensus(site.siteId, pilots, now.toISOString());
    report.deadLettersRedriven += (await deps.queue.redriveDeadLetters(site.siteId, REDRIVE)).redriven;
  }
  return report;
}

function censusChanged(site: SiteRecord, pilots: PilotCensus, nowMs: number): boolean {
  const last = site.census;
  if (last === undefined) return true;
  if (nowMs - Date.parse(last.at) >= CENSUS_REFRESH_MS) return true;
  const states = ['starting', 'idle', 'busy', 'draining'] as const;
  return (
    states.some((state) => last.pilots[state] !== pilots[state]) ||
    RESOURCE_CLASSES.some(
      (c) =>
        (last.pilots.classes?.[c] ?? 0) !== (pilots.classes?.[c] ?? 0) ||
        (last.pilots.idleClasses?.[c] ?? 0) !== (pilots.idleClasses?.[c] ?? 0),
    )
  );
}

/**
 * A pilot gone (lost, or exited): every attempt its lease lists is settled — a running one is
 * ended as lost (a new attempt follows, or the job fails when its attempts are spent), a claim
 * that may still be in flight is fenced — then the registry records the end and the lease goes.
 * Every step is fenced, so a sweep that stopped half-way is simply done again by the next.
 */
async function settle(
  deps: Pick<Deps, 'tasks' | 'jobs' | 'sites' | 'leases' | 'pilots' | 'clock' | 'retryPolicies'>,
  lease: PilotLease,
  report: ReapReport,
): Promise<void> {
  const refs = lease.jobs.map(parseAttemptKey).filter((ref): ref is JobRef => ref !== undefined);
  for (const ref of refs) {
    const record = await deps.jobs.get(ref.taskId, ref.jobIndex);
    if (record?.state === 'running' && record.attempt === ref.attempt && record.pilotId === lease.pilotId) {
      const ended = await endAttempt(
        deps,
        ref,
        lease.pilotId,
        {
          state: 'lost',
          pilotErrorCode: PILOT_ERROR_CODES.PILOT_LOST,
          errorMessage: `no heartbeat from pilot ${lease.pilotId} since its lease expired at ${new Date(lease.expiresAt).toISOString()}`,
        },
        { record },
      );
      if (ended.outcome === 'ok' && ended.jobState === 'queued') report.jobsRequeued += 1;
      continue;
    }
    const claimInFlight =
      (record === undefined && ref.attempt === 1) ||
      (record?.state === 'queued' && record.attempt === ref.attempt);
    if (claimInFlight && (await abandonClaim(deps, ref, lease.pilotId, lease.siteId)) === 'ok') {
      report.claimsAbandoned += 1;
    }
  }
  const at = deps.clock.now().toISOString();
  await deps.pilots.end(lease.pilotId, {
    state: lease.state === 'exited' ? 'exited' : 'lost',
    at,
    jobsRun: lease.jobsRun,
  });
  await deps.leases.remove(lease.pilotId);
}
