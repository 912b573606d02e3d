// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${name} placeholders are literal text in task specs
/**
 * Steps shared by the use-case tests: who calls, a running task with its jobs enqueued, a
 * registered pilot, a claim and a completion report. Each step goes through the real use cases.
 */
import { expect } from 'vitest';
import { type ClaimedJob, type CompleteRequest, SCOPES } from '#core/api/contract.ts';
import type { Principal } from '#core/deps.ts';
import { claimJob } from '#core/jobs/claim-job.ts';
import type { Job } from '#core/jobs/job.ts';
import type { Pilot, PilotResources } from '#core/pilots/pilot.ts';
import { PILOT_ERROR_CODES, type PilotErrorCode } from '#core/pilots/pilot-error-codes.ts';
import { registerPilot } from '#core/pilots/register-pilot.ts';
import type { SiteInput } from '#core/sites/site.ts';
import { submitTask } from '#core/tasks/submit-task.ts';
import type { Task } from '#core/tasks/task.ts';
import type { TaskSpecInput } from '#core/tasks/task-spec.ts';
import { enqueueJobs, splitTask } from '#core/tasks/task-workflow.ts';
import { type InMemoryDeps, siteOf } from '#test/support/in-memory-ports.ts';

export const alice: Principal = { sub: 'alice', scopes: [SCOPES.create, SCOPES.read, SCOPES.cancel] };
export const bob: Principal = { sub: 'bob', scopes: [SCOPES.create, SCOPES.read, SCOPES.cancel] };

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

/** A generation spec of `jobs` jobs of 10 events each. */
export function generationSpec(jobs: number, fields: Partial<TaskSpecInput> = {}): TaskSpecInput {
  return {
    name: 'gen',
    payload: { command: 'generate.sh', args: ['${firstEvent}', '${nEvents}'] },
    events: jobs * 10,
    split: { eventsPerJob: 10 },
    outputs: ['events.root'],
    ...fields,
  };
}

export async function addSite(
  deps: InMemoryDeps,
  input: SiteInput = { siteId: 'cern', slot: BIG_SLOT },
): Promise<void> {
  await deps.sites.put(siteOf(input));
}

/** Submits, splits and enqueues every page: the task is running with all its jobs queued. */
export async function runningTask(
  deps: InMemoryDeps,
  spec: TaskSpecInput = generationSpec(2),
  owner: Principal = alice,
): Promise<string> {
  const { taskId } = await submitTask(deps, owner, spec);
  let progress = await splitTask(deps, taskId);
  while (!progress.done) progress = await enqueueJobs(deps, taskId, progress.nextIndex);
  return taskId;
}

export async function addPilot(
  deps: InMemoryDeps,
  siteId = 'cern',
  resources: PilotResources = BIG_PILOT,
  host = 'wn001.example.org',
): Promise<Pilot> {
  const { pilotId } = await registerPilot(deps, pilotToken(siteId), { siteId, host, pid: 4242, resources });
  const pilot = await deps.pilots.get(pilotId);
  if (pilot === undefined) throw new Error('pilot not stored');
  return pilot;
}

/** Claims a job and expects it to be claimed. */
export async function claimed(
  deps: InMemoryDeps,
  pilot: Pilot,
  taskId: string,
  jobIndex: number,
  attempt = 1,
): Promise<ClaimedJob> {
  const response = await claimJob(deps, pilotToken(pilot.siteId), pilot.pilotId, {
    taskId,
    jobIndex,
    attempt,
  });
  if (response.outcome !== 'claimed') expect.fail(`claim was ${response.outcome}: ${response.reason}`);
  return response.job;
}

/** A completion report of one attempt. */
export function report(
  taskId: string,
  jobIndex: number,
  attempt: number,
  pilotErrorCode: PilotErrorCode = PILOT_ERROR_CODES.OK,
  fields: Partial<CompleteRequest> = {},
): CompleteRequest {
  return {
    taskId,
    jobIndex,
    attempt,
    pilotErrorCode,
    exitCode: pilotErrorCode === PILOT_ERROR_CODES.OK ? 0 : 1,
    usage: { wallTimeSec: 12.5, cpuTimeSec: 11, maxRssKB: 204_800 },
    ...fields,
  };
}

export async function taskOf(deps: InMemoryDeps, taskId: string): Promise<Task> {
  const task = await deps.tasks.get(taskId);
  if (task === undefined) throw new Error(`no task ${taskId}`);
  return task;
}

export async function jobOf(deps: InMemoryDeps, taskId: string, jobIndex: number): Promise<Job> {
  const job = await deps.jobs.get(taskId, jobIndex);
  if (job === undefined) throw new Error(`no job ${taskId}.${jobIndex}`);
  return job;
}
