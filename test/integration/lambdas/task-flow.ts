/**
 * Drives tasks, jobs and pilots through the real handlers, for the handler tests that need a task
 * at some point of its life (running with queued jobs, a claimed job, …).
 */
import { expect } from 'vitest';
import {
  type ClaimedJob,
  type ClaimResponse,
  type CompleteRequest,
  type CompleteResponse,
  type HeartbeatResponse,
  type JobRef,
  type RegisterPilotResponse,
  SCOPES,
  type SubmitTaskResponse,
} from '#core/api/contract.ts';
import type { JobMessage } from '#core/jobs/job-message.ts';
import type { PilotResources } from '#core/pilots/pilot.ts';
import type { TaskSpecInput } from '#core/tasks/task-spec.ts';
import { createHandler as claimJobHandler } from '#lambdas/jobs/claim-job/handler.ts';
import { createHandler as completeJobHandler } from '#lambdas/jobs/complete-job/handler.ts';
import { createHandler as heartbeatHandler } from '#lambdas/pilots/heartbeat/handler.ts';
import { createHandler as registerPilotHandler } from '#lambdas/pilots/register-pilot/handler.ts';
import { createHandler as enqueueJobsHandler } from '#lambdas/tasks/enqueue-jobs/handler.ts';
import { createHandler as splitTaskHandler } from '#lambdas/tasks/split-task/handler.ts';
import { createHandler as submitTaskHandler } from '#lambdas/tasks/submit-task/handler.ts';
import {
  type HandlerHarness,
  httpEvent,
  invoke,
  invokeHttp,
  TEST_SITE,
} from '#test/support/handler-harness.ts';

export const PILOT_SUB = `pilot:${TEST_SITE}`;
export const USER_SCOPES = [SCOPES.create, SCOPES.read, SCOPES.cancel];
export const PILOT_SCOPES = [SCOPES.pilot];

export const PILOT_RESOURCES: PilotResources = {
  cores: 4,
  memoryMB: 8000,
  diskMB: 20_000,
  walltimeLeftSec: 86_400,
};
export const USAGE = { wallTimeSec: 12.5, cpuTimeSec: 11.0, maxRssKB: 20_480 };

/** A generation task: `jobs` jobs of 100 events each. */
export function generationSpec(jobs = 3, overrides: Partial<TaskSpecInput> = {}): TaskSpecInput {
  return {
    name: 'mc-gen',
    payload: { command: 'generate', args: ['--first', '${firstEvent}', '--n', '${nEvents}'] },
    events: jobs * 100,
    split: { eventsPerJob: 100 },
    outputs: ['events.root'],
    ...overrides,
  };
}

/** POST /tasks through the submit-task handler; the task id. */
export async function submitTask(h: HandlerHarness, spec: TaskSpecInput, sub = 'alice'): Promise<string> {
  const reply = await invokeHttp<SubmitTaskResponse>(
    submitTaskHandler(h.deps),
    httpEvent({ method: 'POST', path: '/tasks', body: spec, sub, scopes: USER_SCOPES }),
  );
  expect(reply.statusCode, JSON.stringify(reply.body)).toBe(201);
  return reply.body.taskId;
}

/** The workflow's split and enqueue steps, page after page, as the state machine runs them. */
export async function splitAndEnqueue(h: HandlerHarness, taskId: string): Promise<void> {
  let progress = await invoke(splitTaskHandler(h.deps), { taskId });
  const enqueue = enqueueJobsHandler(h.deps);
  while (!progress.done) progress = await invoke(enqueue, { taskId, nextIndex: progress.nextIndex });
}

/** A running task with every job queued; its messages are received (and deleted) from the queue. */
export async function runningTask(
  h: HandlerHarness,
  spec: TaskSpecInput = generationSpec(),
  sub = 'alice',
): Promise<{ taskId: string; messages: JobMessage[] }> {
  const taskId = await submitTask(h, spec, sub);
  await splitAndEnqueue(h, taskId);
  const task = await h.deps.tasks.get(taskId);
  const jobCount = task?.jobCount ?? 0;
  const messages = await h.receiveJobMessages(jobCount);
  expect(messages.filter((m) => m.taskId === taskId)).toHaveLength(jobCount);
  return { taskId, messages };
}

/** POST /pilots through the register-pilot handler; the pilot id. */
export async function registerPilot(
  h: HandlerHarness,
  options: { resources?: PilotResources; host?: string } = {},
): Promise<string> {
  const reply = await invokeHttp<RegisterPilotResponse>(
    registerPilotHandler(h.deps),
    httpEvent({
      method: 'POST',
      path: '/pilots',
      body: {
        siteId: TEST_SITE,
        host: options.host ?? 'wn01.test',
        pid: 4242,
        version: 'test',
        resources: options.resources ?? PILOT_RESOURCES,
      },
      sub: PILOT_SUB,
      scopes: PILOT_SCOPES,
    }),
  );
  expect(reply.statusCode, JSON.stringify(reply.body)).toBe(201);
  return reply.body.pilotId;
}

/** The i-th element, which the test knows is there. */
export function nth<T>(items: readonly T[], i: number): T {
  const item = items[i];
  if (item === undefined) throw new Error(`no item ${i} of ${items.length}`);
  return item;
}

export function refOf(message: Pick<JobMessage, 'taskId' | 'jobIndex' | 'attempt'>): JobRef {
  return { taskId: message.taskId, jobIndex: message.jobIndex, attempt: message.attempt };
}

/** POST /pilots/{pilotId}/claim; the status and the reply. */
export async function claim(
  h: HandlerHarness,
  pilotId: string,
  ref: JobRef,
  sub = PILOT_SUB,
): Promise<{ statusCode: number; body: ClaimResponse }> {
  return invokeHttp<ClaimResponse>(
    claimJobHandler(h.deps),
    httpEvent({
      method: 'POST',
      path: '/pilots/{pilotId}/claim',
      pathParameters: { pilotId },
      body: ref,
      sub,
      scopes: PILOT_SCOPES,
    }),
  );
}

/** A claim that must succeed; the claimed job. */
export async function claimed(h: HandlerHarness, pilotId: string, ref: JobRef): Promise<ClaimedJob> {
  const reply = await claim(h, pilotId, ref);
  expect(reply.statusCode).toBe(200);
  if (reply.body.outcome !== 'claimed') throw new Error(`claim not granted: ${JSON.stringify(reply.body)}`);
  return reply.body.job;
}

/** POST /pilots/{pilotId}/heartbeat. */
export async function heartbeat(
  h: HandlerHarness,
  pilotId: string,
  body: unknown,
  sub = PILOT_SUB,
): Promise<{ statusCode: number; body: HeartbeatResponse }> {
  return invokeHttp<HeartbeatResponse>(
    heartbeatHandler(h.deps),
    httpEvent({
      method: 'POST',
      path: '/pilots/{pilotId}/heartbeat',
      pathParameters: { pilotId },
      body,
      sub,
      scopes: PILOT_SCOPES,
    }),
  );
}

/** A completion report of one attempt (success unless `overrides` say otherwise). */
export function report(ref: JobRef, overrides: Partial<CompleteRequest> = {}): CompleteRequest {
  return {
    ...ref,
    exitCode: 0,
    pilotErrorCode: 0,
    usage: USAGE,
    outputs: [
      {
        name: 'events.root',
        key: `tasks/${ref.taskId}/jobs/${ref.jobIndex}/attempt-${ref.attempt}/events.root`,
        bytes: 1234,
        adler32: '0a1b2c3d',
      },
    ],
    logKey: `tasks/${ref.taskId}/jobs/${ref.jobIndex}/attempt-${ref.attempt}/pilot.log`,
    host: 'wn01.test',
    ...overrides,
  };
}

/** POST /pilots/{pilotId}/complete. */
export async function complete(
  h: HandlerHarness,
  pilotId: string,
  body: unknown,
  sub = PILOT_SUB,
): Promise<{ statusCode: number; body: CompleteResponse }> {
  return invokeHttp<CompleteResponse>(
    completeJobHandler(h.deps),
    httpEvent({
      method: 'POST',
      path: '/pilots/{pilotId}/complete',
      pathParameters: { pilotId },
      body,
      sub,
      scopes: PILOT_SCOPES,
    }),
  );
}

/** Claims and completes one attempt with the given pilot error code; the completion reply. */
export async function runAttempt(
  h: HandlerHarness,
  pilotId: string,
  ref: JobRef,
  pilotErrorCode = 0,
): Promise<CompleteResponse> {
  await claimed(h, pilotId, ref);
  const reply = await complete(
    h,
    pilotId,
    report(ref, pilotErrorCode === 0 ? {} : { pilotErrorCode, exitCode: 1, errorMessage: 'payload failed' }),
  );
  expect(reply.statusCode, JSON.stringify(reply.body)).toBe(200);
  return reply.body;
}
