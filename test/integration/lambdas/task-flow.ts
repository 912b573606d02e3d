/**
 * Drives tasks, jobs and pilots through the real handlers, for the handler tests that need a task
 * at some point of its life (running with queued jobs, a claimed job, a retried one, …).
 */
import { expect } from 'vitest';
import { SCOPES } from '#core/api/common.ts';
import type {
  ClaimedJob,
  ClaimResponse,
  CompleteResponse,
  JobRefInput,
  RegisterPilotResponse,
  ReportInput,
} from '#core/api/pilots.ts';
import type { SubmitTaskResponse } from '#core/api/tasks.ts';
import type { JobMessage } from '#core/jobs/job-message.ts';
import type { PilotResources } from '#core/pilots/pilot.ts';
import { attemptLogKey, attemptPrefix } from '#core/storage/object-keys.ts';
import type { TaskSpecInput } from '#core/tasks/task-spec.ts';
import { createHandler as claimJobHandler } from '#lambdas/jobs/claim-job/handler.ts';
import { createHandler as completeJobHandler } from '#lambdas/jobs/complete-job/handler.ts';
import { createHandler as registerPilotHandler } from '#lambdas/pilots/register-pilot/handler.ts';
import { createHandler as enqueueJobsHandler } from '#lambdas/tasks/enqueue-jobs/handler.ts';
import { createHandler as splitTaskHandler } from '#lambdas/tasks/split-task/handler.ts';
import { createHandler as submitTaskHandler } from '#lambdas/tasks/submit-task/handler.ts';
import { createHandler as waitForJobsHandler } from '#lambdas/tasks/wait-for-jobs/handler.ts';
import {
  type HandlerHarness,
  type HttpReply,
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

/** The body of an error answer. */
export interface ErrorReply {
  error: { code: string; message: string; issues?: Array<{ field: string; message: string }> };
}

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

/** The workflow's wait step: stores `token` (and releases it at once when there is something to do). */
export async function waitForJobs(h: HandlerHarness, taskId: string, token: string): Promise<void> {
  await invoke(waitForJobsHandler(h.deps), { taskId, taskToken: token });
}

/** A running task with every job queued; its messages are received (and deleted) from the queue. */
export async function runningTask(
  h: HandlerHarness,
  spec: TaskSpecInput = generationSpec(),
  sub = 'alice',
): Promise<{ taskId: string; messages: JobMessage[] }> {
  const taskId = await submitTask(h, spec, sub);
  await splitAndEnqueue(h, taskId);
  const jobCount = (await h.deps.tasks.getHead(taskId))?.jobCount ?? 0;
  const messages = await h.receiveJobMessages(jobCount, { taskId });
  expect(messages).toHaveLength(jobCount);
  return { taskId, messages };
}

/** POST /pilots through the register-pilot handler; the pilot id. */
export async function registerPilot(
  h: HandlerHarness,
  options: { resources?: PilotResources; host?: string; siteId?: string } = {},
): Promise<string> {
  const siteId = options.siteId ?? TEST_SITE;
  const reply = await invokeHttp<RegisterPilotResponse>(
    registerPilotHandler(h.deps),
    httpEvent({
      method: 'POST',
      path: '/pilots',
      body: {
        siteId,
        host: options.host ?? 'wn01.test',
        pid: 4242,
        version: 'test',
        resources: options.resources ?? PILOT_RESOURCES,
      },
      sub: `pilot:${siteId}`,
      scopes: PILOT_SCOPES,
    }),
  );
  expect(reply.statusCode, JSON.stringify(reply.body)).toBe(200);
  expect(reply.body.accepted).toBe(true);
  return reply.body.pilotId;
}

/** The i-th element, which the test knows is there. */
export function nth<T>(items: readonly T[], i: number): T {
  const item = items[i];
  if (item === undefined) throw new Error(`no item ${i} of ${items.length}`);
  return item;
}

export function refOf(message: Pick<JobMessage, 'taskId' | 'jobIndex' | 'attempt'>): JobRefInput {
  return { taskId: message.taskId, jobIndex: message.jobIndex, attempt: message.attempt };
}

export interface ClaimOptions {
  sub?: string;
  resources?: PilotResources;
  holds?: JobRefInput[];
  report?: ReportInput;
  sentAt?: number;
}

/** The body of a claim of `ref` (with the pilot's default resources and nothing else held). */
export function claimBody(ref: JobRefInput, options: ClaimOptions = {}): Record<string, unknown> {
  return {
    ...ref,
    resources: options.resources ?? PILOT_RESOURCES,
    holds: options.holds ?? [],
    ...(options.report === undefined ? {} : { report: options.report }),
    ...(options.sentAt === undefined ? {} : { sentAt: options.sentAt }),
  };
}

/** POST /pilots/{pilotId}/claim with `body` as it is; the status and the reply. */
export function claimRaw(
  h: HandlerHarness,
  pilotId: string,
  body: unknown,
  sub: string | null = PILOT_SUB,
): Promise<HttpReply<ClaimResponse & ErrorReply>> {
  return invokeHttp<ClaimResponse & ErrorReply>(
    claimJobHandler(h.deps),
    httpEvent({
      method: 'POST',
      path: '/pilots/{pilotId}/claim',
      pathParameters: { pilotId },
      body,
      sub,
      scopes: PILOT_SCOPES,
    }),
  );
}

/** POST /pilots/{pilotId}/claim of `ref`. */
export function claim(
  h: HandlerHarness,
  pilotId: string,
  ref: JobRefInput,
  options: ClaimOptions = {},
): Promise<HttpReply<ClaimResponse & ErrorReply>> {
  return claimRaw(h, pilotId, claimBody(ref, options), options.sub);
}

/** A claim that must succeed; the claimed job. */
export async function claimed(
  h: HandlerHarness,
  pilotId: string,
  ref: JobRefInput,
  options: ClaimOptions = {},
): Promise<ClaimedJob> {
  const reply = await claim(h, pilotId, ref, options);
  expect(reply.statusCode, JSON.stringify(reply.body)).toBe(200);
  if (reply.body.outcome !== 'claimed' || reply.body.job === undefined) {
    throw new Error(`claim not granted: ${JSON.stringify(reply.body)}`);
  }
  return reply.body.job;
}

/** The report of one attempt's end (a success unless `overrides` say otherwise). */
export function report(ref: JobRefInput, overrides: Partial<ReportInput> = {}): ReportInput {
  return {
    ...ref,
    exitCode: 0,
    pilotErrorCode: 0,
    usage: USAGE,
    outputs: [
      {
        name: 'events.root',
        key: `${attemptPrefix(ref.taskId, ref.jobIndex, ref.attempt)}events.root`,
        bytes: 1234,
        adler32: '0a1b2c3d',
      },
    ],
    log: { name: 'attempt.log', key: attemptLogKey(ref.taskId, ref.jobIndex, ref.attempt), bytes: 321 },
    host: 'wn01.test',
    ...overrides,
  };
}

/** POST /pilots/{pilotId}/complete with `body` as it is (a report and the attempts still held). */
export function complete(
  h: HandlerHarness,
  pilotId: string,
  body: unknown,
  sub: string | null = PILOT_SUB,
): Promise<HttpReply<CompleteResponse & ErrorReply>> {
  return invokeHttp<CompleteResponse & ErrorReply>(
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

/** A failure report: the payload exited 3. */
export const FAILED = { pilotErrorCode: 1001, exitCode: 3, errorMessage: 'exit 3' } as const;

/** Claims and completes one attempt with the given result; the completion reply body. */
export async function runAttempt(
  h: HandlerHarness,
  pilotId: string,
  ref: JobRefInput,
  result: Partial<ReportInput> = {},
): Promise<CompleteResponse> {
  await claimed(h, pilotId, ref);
  const reply = await complete(h, pilotId, { ...report(ref, result), holds: [] });
  expect(reply.statusCode, JSON.stringify(reply.body)).toBe(200);
  return reply.body;
}
