// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${name} placeholders are literal text in task specs
/**
 * Steps shared by the core tests: who calls, a task that is running with its jobs enqueued, a
 * registered pilot, claims and reports as a pilot sends them, and the task workflow's steps as
 * the state machine runs them. Every step goes through the real use cases on the in-memory ports.
 */
import { expect } from 'vitest';
import type { UsageRecord } from '#core/accounting/usage.ts';
import { SCOPES } from '#core/api/common.ts';
import type { ClaimedJob, ClaimResponse, CompleteResponse, Report } from '#core/api/pilots.ts';
import type { Principal } from '#core/deps.ts';
import { type ClaimInput, claimJob } from '#core/jobs/claim-job.ts';
import { completeJob } from '#core/jobs/complete-job.ts';
import type { JobRecord, JobRef } from '#core/jobs/job.ts';
import type { JobCounts } from '#core/jobs/job-counts.ts';
import type { PilotLease, PilotResources } from '#core/pilots/pilot.ts';
import { PILOT_ERROR_CODES, type PilotErrorCode } from '#core/pilots/pilot-error-codes.ts';
import { registerPilot } from '#core/pilots/register-pilot.ts';
import type { SiteInput } from '#core/sites/site.ts';
import { submitTask } from '#core/tasks/submit-task.ts';
import type { Task, TaskState } from '#core/tasks/task.ts';
import { parseTaskSpec, type TaskSpec, type TaskSpecInput } from '#core/tasks/task-spec.ts';
import { cancelJobs, enqueueJobs, finalizeTask, splitTask, waitForJobs } from '#core/tasks/task-workflow.ts';
import { type InMemoryDeps, inMemoryDeps, siteOf } from '#test/support/in-memory-ports.ts';

export const alice: Principal = { sub: 'alice', scopes: [SCOPES.create, SCOPES.read, SCOPES.cancel] };
export const bob: Principal = { sub: 'bob', scopes: [SCOPES.create, SCOPES.read, SCOPES.cancel] };

/** The token of the pilots of one site (`*` for any site). */
export function pilotToken(siteId: string): Principal {
  return { sub: `pilot:${siteId}`, scopes: [SCOPES.pilot] };
}

export const BIG_SLOT = { cores: 8, memoryMB: 32_000, walltimeSec: 172_800, diskMB: 100_000 };
export const BIG_PILOT: PilotResources = {
  cores: 8,
  memoryMB: 32_000,
  diskMB: 100_000,
  walltimeLeftSec: 172_800,
};
export const USAGE = { wallTimeSec: 12.5, cpuTimeSec: 11, maxRssKB: 204_800 };

/** A generation spec of `jobs` jobs of 10 events each (parsed: every default filled). */
export function generationSpec(jobs: number, fields: Partial<TaskSpecInput> = {}): TaskSpec {
  return parseTaskSpec({
    name: 'gen',
    payload: { command: 'generate.sh', args: ['${firstEvent}', '${nEvents}'] },
    events: jobs * 10,
    split: { eventsPerJob: 10 },
    outputs: ['events.root'],
    ...fields,
  });
}

export async function addSite(
  deps: InMemoryDeps,
  input: SiteInput = { siteId: 'cern', slot: BIG_SLOT },
): Promise<void> {
  await deps.sites.put(siteOf(input));
}

/** A paid site: kind cloud, with EC2 provisioning (its pilots cost money; task budgets keep jobs off it). */
export async function addPaidSite(deps: InMemoryDeps, siteId: string, fields: Partial<SiteInput> = {}) {
  await addSite(deps, {
    siteId,
    kind: 'cloud',
    slot: BIG_SLOT,
    provisioning: {
      type: 'ec2',
      instanceTypes: [{ type: 'm5.large' }],
      subnets: ['subnet-0123abcd'],
      maxInstances: 2,
      maxHourlyUsd: 1,
    },
    ...fields,
  });
}

/** The usage record of an hour-long attempt of the task at a paid site that cost `costUsd`. */
export function costedUsage(taskId: string, costUsd: number, fields: Partial<UsageRecord> = {}): UsageRecord {
  return {
    taskId,
    jobIndex: 0,
    attempt: 1,
    day: '2026-12-02',
    user: 'alice',
    group: 'default',
    siteId: 'cloud-a',
    resourceClass: 'score',
    cores: 1,
    state: 'finished',
    pilotErrorCode: 0,
    startedAt: '2026-12-02T10:00:00.000Z',
    endedAt: '2026-12-02T11:00:00.000Z',
    wallSec: 3600,
    cpuSec: 1,
    coreSec: 3600,
    maxRssMB: 1,
    costUsd,
    ...fields,
  };
}

/** Submits, splits and enqueues every page: the task is running and every job's message was sent. */
export async function runningTask(
  deps: InMemoryDeps,
  spec: TaskSpec = generationSpec(2),
  owner: Principal = alice,
): Promise<string> {
  const { taskId } = await submitTask(deps, owner, spec);
  let progress = await splitTask(deps, taskId);
  while (!progress.done) progress = await enqueueJobs(deps, taskId, progress.nextIndex);
  return taskId;
}

/** A site, a running task of two jobs there and a pilot: the start of most job-level tests. */
export async function taskWithPilot(): Promise<{ deps: InMemoryDeps; taskId: string; pilotId: string }> {
  const deps = inMemoryDeps();
  await addSite(deps);
  const taskId = await runningTask(deps);
  const pilotId = await addPilot(deps);
  return { deps, taskId, pilotId };
}

/** Registers a healthy pilot at a site; returns its id. */
export async function addPilot(
  deps: InMemoryDeps,
  siteId = 'cern',
  resources: PilotResources = BIG_PILOT,
  host = 'wn001.example.org',
): Promise<string> {
  const response = await registerPilot(deps, pilotToken(siteId), {
    siteId,
    host,
    pid: 4242,
    version: '1.0.0',
    resources,
  });
  return response.pilotId;
}

/** One attempt of one job (attempt 1 unless told). */
export function jobRef(taskId: string, jobIndex: number, attempt = 1): JobRef {
  return { taskId, jobIndex, attempt };
}

/** A claim of one attempt as a pilot sends it. */
export function claimOf(
  taskId: string,
  jobIndex: number,
  attempt = 1,
  fields: Partial<Omit<ClaimInput, 'taskId' | 'jobIndex' | 'attempt'>> = {},
): ClaimInput {
  return { taskId, jobIndex, attempt, resources: BIG_PILOT, holds: [], ...fields };
}

/** Claims an attempt with a pilot of `siteId` and expects it claimed. */
export async function claimed(
  deps: InMemoryDeps,
  pilotId: string,
  ref: JobRef,
  fields: Partial<Omit<ClaimInput, 'taskId' | 'jobIndex' | 'attempt'>> = {},
  siteId = 'cern',
): Promise<ClaimedJob> {
  const response: ClaimResponse = await claimJob(
    deps,
    pilotToken(siteId),
    pilotId,
    claimOf(ref.taskId, ref.jobIndex, ref.attempt, fields),
  );
  if (response.outcome !== 'claimed' || response.job === undefined) {
    return expect.fail(
      `claim of ${ref.taskId}.${ref.jobIndex}.${ref.attempt} was ${response.outcome}: ${response.reason}`,
    );
  }
  return response.job;
}

/** The end of an attempt, as the pilot reports it. */
export function report(
  ref: JobRef,
  pilotErrorCode: PilotErrorCode = PILOT_ERROR_CODES.OK,
  fields: Partial<Omit<Report, 'taskId' | 'jobIndex' | 'attempt' | 'pilotErrorCode'>> = {},
): Report {
  return {
    taskId: ref.taskId,
    jobIndex: ref.jobIndex,
    attempt: ref.attempt,
    pilotErrorCode,
    exitCode: pilotErrorCode === PILOT_ERROR_CODES.OK ? 0 : 1,
    usage: USAGE,
    outputs: [],
    ...fields,
  };
}

/** Reports an attempt's end through completeJob, holding nothing else. */
export async function complete(
  deps: InMemoryDeps,
  pilotId: string,
  ended: Report,
  holds: JobRef[] = [],
  siteId = 'cern',
): Promise<CompleteResponse> {
  return completeJob(deps, pilotToken(siteId), pilotId, { ...ended, holds });
}

export async function taskOf(deps: InMemoryDeps, taskId: string): Promise<Task> {
  const task = await deps.tasks.get(taskId);
  if (task === undefined) return expect.fail(`no task ${taskId}`);
  return task;
}

export async function countsOf(deps: InMemoryDeps, taskId: string): Promise<JobCounts> {
  return (await taskOf(deps, taskId)).counts;
}

export async function recordOf(deps: InMemoryDeps, taskId: string, jobIndex: number): Promise<JobRecord> {
  const record = await deps.jobs.get(taskId, jobIndex);
  if (record === undefined) return expect.fail(`no record of job ${taskId}.${jobIndex}`);
  return record;
}

export async function leaseOf(deps: InMemoryDeps, pilotId: string): Promise<PilotLease> {
  const lease = await deps.leases.get(pilotId);
  if (lease === undefined) return expect.fail(`no lease of pilot ${pilotId}`);
  return lease;
}

/** Lets the pilot leases run out: the clock moves past `leaseSec`. */
export function expireLeases(deps: InMemoryDeps): void {
  deps.clock.advance(deps.settings.leaseSec * 1000 + 1);
}

/**
 * The task workflow as its state machine runs it (statemachines/task.asl.json): split, enqueue
 * every page, then wait. `afterRelease` goes on once the wait was released: the cancel step and
 * a new wait when the release asks for a sweep, the final state otherwise.
 */
export class Workflow {
  private readonly deps: InMemoryDeps;
  readonly taskId: string;
  private waits = 0;
  token: string | undefined;

  constructor(deps: InMemoryDeps, taskId: string) {
    this.deps = deps;
    this.taskId = taskId;
  }

  async startUntilWait(): Promise<void> {
    let progress = await splitTask(this.deps, this.taskId);
    while (!progress.done) progress = await enqueueJobs(this.deps, this.taskId, progress.nextIndex);
    await this.wait();
  }

  async wait(): Promise<void> {
    this.waits += 1;
    this.token = `${this.taskId}-wait-${this.waits}`;
    await waitForJobs(this.deps, this.taskId, this.token);
  }

  /** The release of the current wait, if any. */
  release(): { taskId: string; sweep: boolean } | undefined {
    return this.deps.workflow.releases.find((r) => r.token === this.token)?.output;
  }

  /**
   * Runs the steps that follow a released wait; `waiting` when the workflow waits again. A wait
   * released for a sweep again and again would never end: it fails after a few rounds.
   */
  async afterRelease(rounds = 3): Promise<TaskState | 'waiting'> {
    const release = this.release();
    if (release === undefined) return 'waiting';
    if (release.sweep) {
      if (rounds === 0) return expect.fail('the workflow sweeps the cancelled task again and again');
      let progress = await cancelJobs(this.deps, this.taskId, 0);
      while (!progress.done) progress = await cancelJobs(this.deps, this.taskId, progress.nextIndex);
      await this.wait();
      return this.afterRelease(rounds - 1);
    }
    return (await finalizeTask(this.deps, this.taskId)).state;
  }
}
