import type { ClaimedJob, ClaimResponse, Report } from '../api/pilots.ts';
import { replicaOrder } from '../catalog/task-inputs.ts';
import type { Deps, Principal } from '../deps.ts';
import { ForbiddenError, PilotGoneError } from '../errors.ts';
import { killEntriesOf, leaseExpiry } from '../pilots/lease.ts';
import { isLivePilotState, type PilotResources } from '../pilots/pilot.ts';
import { pilotSiteOf } from '../pilots/pilot-access.ts';
import { effectiveResources } from '../policies/retry-policy.ts';
import { resourceMisfit } from '../sites/resource-fit.ts';
import { attemptLogKey, attemptPrefix, rangesPrefix } from '../storage/object-keys.ts';
import type { TaskSizing } from '../tasks/scout-sizing.ts';
import { jobAt, jobInput, jobResources } from '../tasks/split-task.ts';
import { isFinalTaskState } from '../tasks/task.ts';
import { specFiles, type TaskSpec } from '../tasks/task-spec.ts';
import { recordReport } from './complete-job.ts';
import { optional } from './end-attempt.ts';
import { attemptKey, type JobParameters, type JobRecord, type JobRef, jobIdOf } from './job.ts';

export interface ClaimInput extends JobRef {
  sentAt?: number;
  resources: PilotResources;
  holds: JobRef[];
  report?: Report;
}

/**
 * A pilot claims the job a queue message names: the job moves to `running` with this pilot,
 * fenced on its attempt, and the pilot's lease lists it. The lease is written first, so a pilot
 * that vanishes from then on leaves a trace the reaper follows. A claim may carry the report of
 * the attempt the pilot just ended, so a busy pilot makes one call per job. A duplicate or stale
 * message answers `stale`, a cancelled task's `cancelled` (acknowledge it), a job that does not
 * fit `unfit` (leave it to others). A replayed claim answers as the first did.
 */
export async function claimJob(
  deps: Pick<
    Deps,
    'tasks' | 'jobs' | 'sites' | 'leases' | 'ranges' | 'rangeQueue' | 'clock' | 'settings' | 'retryPolicies'
  >,
  principal: Principal,
  pilotId: string,
  request: ClaimInput,
): Promise<ClaimResponse> {
  // The report's job and the claimed job are different records: record one while reading for the other.
  const [report, head] = await Promise.all([
    request.report === undefined ? undefined : recordReport(deps, principal, pilotId, request.report),
    deps.tasks.getHead(request.taskId, { consistent: false }),
  ]);
  const answer = (r: Omit<ClaimResponse, 'report'>): ClaimResponse => ({
    ...r,
    ...optional('report', report),
  });
  const siteId = pilotSiteOf(principal);
  const holds = request.holds.map(attemptKey);
  const now = deps.clock.now();
  const expiresAt = leaseExpiry(now.getTime(), deps.settings.leaseSec);
  const dropKills = request.report === undefined ? [] : killEntriesOf(request.report);
  /** Without the claimed job, the lease still changes when a report came with the claim. */
  const refuse = async (r: Omit<ClaimResponse, 'report'>): Promise<ClaimResponse> => {
    if (request.report !== undefined) {
      // A replayed claim answers `claimed`: the pilot runs the job, so its lease must keep listing it.
      const jobs = r.outcome === 'claimed' ? [...holds, attemptKey(request)] : holds;
      await deps.leases.hold(pilotId, {
        jobs,
        state: jobs.length > 0 ? 'busy' : 'idle',
        expiresAt,
        ...optional('siteId', siteId),
        dropKills,
      });
    }
    return answer(r);
  };

  if (head === undefined) return refuse({ outcome: 'stale', reason: 'no such task' });
  if (head.cancelRequested) return refuse({ outcome: 'cancelled', reason: 'the task was cancelled' });
  // Paused: read again, consistently, so a claim just after a resume is not refused on a stale read.
  if (head.paused === true && (await deps.tasks.getHead(request.taskId))?.paused === true)
    return refuse({ outcome: 'paused', reason: 'the task is paused by its owner' });
  if (isFinalTaskState(head.state)) return refuse({ outcome: 'stale', reason: `the task is ${head.state}` });
  // Jobs added since (merge jobs; a scouted task's sizing, written with them) may be missing from
  // an eventually consistent read: read again, consistently.
  const current =
    request.jobIndex < head.jobCount ? head : ((await deps.tasks.getHead(request.taskId)) ?? head);
  if (request.jobIndex >= current.jobCount) return refuse({ outcome: 'stale', reason: 'no such job' });
  const spec = await deps.tasks.getSpec(request.taskId);
  if (spec === undefined) return refuse({ outcome: 'stale', reason: 'no such task' });
  const sizing = current.sizing;

  // A first attempt has no record yet; a later one was queued by its record, which may raise resources.
  let record: JobRecord | undefined;
  if (request.attempt > 1) {
    record = await deps.jobs.get(request.taskId, request.jobIndex);
    if (record === undefined || record.state !== 'queued' || record.attempt !== request.attempt) {
      return refuse(await staleOrReplayed(deps, spec, sizing, request, pilotId));
    }
  }
  const resources = effectiveResources(jobResources(spec, sizing, request.jobIndex), record);
  const offer = { ...request.resources, walltimeSec: request.resources.walltimeLeftSec };
  const misfit = resourceMisfit(resources, offer, 'pilot has');
  if (misfit !== undefined) return refuse({ outcome: 'unfit', reason: misfit });

  const lease = await deps.leases.hold(pilotId, {
    jobs: [...holds, attemptKey(request)],
    state: 'busy',
    expiresAt,
    ...optional('siteId', siteId),
    dropKills,
  });
  if (lease === undefined) return whyNoLease(deps, pilotId, siteId);
  const at = now.toISOString();
  const written = await deps.jobs.update(
    { taskId: request.taskId, jobIndex: request.jobIndex },
    {
      set: {
        state: 'running',
        attempt: request.attempt,
        failures: record?.failures ?? 0,
        siteId: lease.siteId,
        pilotId,
        ...optional('host', lease.host),
        ...optional(
          'queuedAt',
          request.sentAt === undefined ? record?.queuedAt : new Date(request.sentAt).toISOString(),
        ),
        startedAt: at,
        updatedAt: at,
      },
      remove: ['ended'],
    },
    request.attempt === 1
      ? ['absent', { state: 'queued', attempt: 1 }]
      : [{ state: 'queued', attempt: request.attempt }],
  );
  if (written === 'conflict') {
    const outcome = await staleOrReplayed(deps, spec, sizing, request, pilotId);
    // Lost the race: the lease lists only what the pilot holds.
    if (outcome.outcome !== 'claimed') {
      await deps.leases.hold(pilotId, {
        jobs: holds,
        state: holds.length > 0 ? 'busy' : 'idle',
        expiresAt,
        ...optional('siteId', siteId),
      });
    }
    return answer(outcome);
  }
  return answer({
    outcome: 'claimed',
    job: await jobToRun(deps, spec, sizing, request, resources, lease.siteId),
  });
}

/** The job's inputs with their replicas in the order a pilot at `siteId` tries them. */
function withReplicaOrder(
  parameters: JobParameters,
  spec: TaskSpec,
  siteId: string | undefined,
): JobParameters {
  const resolved = spec.inputs?.resolved;
  if (resolved === undefined || parameters.inputs === undefined) return parameters;
  const remoteRead = spec.inputs?.remoteRead === true;
  return {
    ...parameters,
    inputs: parameters.inputs.map((input) =>
      input.replicas === undefined
        ? input
        : { ...input, replicas: replicaOrder(input.replicas, resolved.endpoints, siteId, remoteRead) },
    ),
  };
}

/** The claim did not land: a replay of this pilot's own claim (the job is its own), or stale. */
async function staleOrReplayed(
  deps: Pick<Deps, 'jobs' | 'ranges' | 'rangeQueue' | 'settings'>,
  spec: TaskSpec,
  sizing: TaskSizing | undefined,
  ref: JobRef,
  pilotId: string,
): Promise<Omit<ClaimResponse, 'report'>> {
  const record = await deps.jobs.get(ref.taskId, ref.jobIndex);
  if (record?.state === 'running' && record.attempt === ref.attempt && record.pilotId === pilotId) {
    return {
      outcome: 'claimed',
      job: await jobToRun(
        deps,
        spec,
        sizing,
        ref,
        effectiveResources(jobResources(spec, sizing, ref.jobIndex), record),
        record.siteId,
      ),
    };
  }
  if (record === undefined)
    return { outcome: 'stale', reason: `no attempt ${ref.attempt} of this job is queued` };
  return { outcome: 'stale', reason: `the job is ${record.state} at attempt ${record.attempt}` };
}

/** The lease could not be held: the pilot is gone, or the token is for another site's pilots. */
async function whyNoLease(
  deps: Pick<Deps, 'leases'>,
  pilotId: string,
  siteId: string | undefined,
): Promise<never> {
  const lease = await deps.leases.get(pilotId);
  if (
    lease !== undefined &&
    isLivePilotState(lease.state) &&
    siteId !== undefined &&
    lease.siteId !== siteId
  ) {
    throw new ForbiddenError(`this pilot token is for site ${siteId}, not ${lease.siteId}`);
  }
  throw new PilotGoneError(
    lease === undefined
      ? `pilot ${pilotId} is unknown or gone; register again`
      : `pilot ${pilotId} is ${lease.state}; register again`,
  );
}

/** Input files a consumer's claim lists with their checksums, at most. */
const CONSUMER_INPUTS_MAX = 2000;

/**
 * The job a claim hands out: an event-service task's consumers get their range queue, its merge
 * jobs the outputs of their block of finished ranges; any other job follows from the spec alone.
 */
async function jobToRun(
  deps: Pick<Deps, 'ranges' | 'rangeQueue' | 'settings'>,
  spec: TaskSpec,
  sizing: TaskSizing | undefined,
  ref: JobRef,
  resources: TaskSpec['resources'],
  siteId: string | undefined,
): Promise<ClaimedJob> {
  const job = claimedJob(spec, ref, resources, sizing, siteId);
  const es = spec.eventService;
  if (es === undefined) return job;
  const output = spec.outputs[0] as string;
  if (ref.jobIndex < es.consumers) {
    // The input files with their checksums, for the consumer to verify what it stages in; a task
    // of very many files leaves them out (the answer would be too large) and the files go unchecked.
    const files = specFiles(spec);
    return {
      ...job,
      ...(files.length > 0 && files.length <= CONSUMER_INPUTS_MAX ? { inputs: files.map(jobInput) } : {}),
      consumer: {
        rangeQueueUrl: await deps.rangeQueue.queueUrl(ref.taskId),
        mode: es.mode,
        maxRangeAttempts: es.maxRangeAttempts,
        stopAfterFailures: es.stopAfterFailures,
        rangeLeaseSec: deps.settings.rangeLeaseSec,
        output,
        outputPrefix: rangesPrefix(ref.taskId),
      },
    };
  }
  const merge = es.merge;
  if (merge === undefined) return job;
  const first = (ref.jobIndex - es.consumers) * merge.rangesPerJob;
  const inputs: NonNullable<ClaimedJob['inputs']> = [];
  let from: number | undefined = first;
  while (from !== undefined && from < first + merge.rangesPerJob) {
    const page = await deps.ranges.list(ref.taskId, from, first + merge.rangesPerJob - from, 'finished');
    for (const r of page.records) {
      if (r.rangeIndex >= first + merge.rangesPerJob || r.output === undefined) continue;
      inputs.push({
        name: r.output.key,
        localName: `r${r.rangeIndex}.${output}`,
        adler32: r.output.adler32,
        bytes: r.output.bytes,
        events: r.nEvents,
      });
    }
    from = page.next;
  }
  return {
    ...job,
    inputs,
    nEvents: inputs.reduce((n, f) => n + (f.events ?? 0), 0),
    payload: { ...spec.payload, command: merge.command, args: merge.args, env: merge.env },
  };
}

/**
 * Everything the pilot needs to run one attempt, from the spec and the job's index alone. A
 * dataset task's inputs carry the replicas the pilot at `siteId` may read, close ones first.
 */
export function claimedJob(
  spec: TaskSpec,
  ref: JobRef,
  resources: TaskSpec['resources'],
  sizing?: TaskSizing,
  siteId?: string,
): ClaimedJob {
  const parameters = withReplicaOrder(jobAt(spec, ref.jobIndex, sizing), spec, siteId);
  return {
    taskId: ref.taskId,
    jobId: jobIdOf(ref.taskId, ref.jobIndex),
    jobIndex: ref.jobIndex,
    attempt: ref.attempt,
    ...optional('firstEvent', parameters.firstEvent),
    ...optional('nEvents', parameters.nEvents),
    ...optional('inputs', parameters.inputs),
    payload: spec.payload,
    resources,
    outputs: spec.outputs,
    outputPrefix: attemptPrefix(ref.taskId, ref.jobIndex, ref.attempt),
    logKey: attemptLogKey(ref.taskId, ref.jobIndex, ref.attempt),
  };
}
