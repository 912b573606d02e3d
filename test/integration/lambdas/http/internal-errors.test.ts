/**
 * 5xx answers never carry internals: whatever a dependency throws (a plain Error, an SDK error
 * naming a table, a fatal error), the body is the same short one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FatalError, TransientError } from '#core/errors.ts';
import type { TaskStore } from '#core/ports.ts';
import { DynamoDbTaskStore } from '#adapters/dynamodb/dynamodb-task-store.ts';
import { createHandler as claimJobHandler } from '#lambdas/jobs/claim-job/handler.ts';
import { createHandler as getTaskHandler } from '#lambdas/tasks/get-task/handler.ts';
import { createHandler as listTasksHandler } from '#lambdas/tasks/list-tasks/handler.ts';
import { createHandler as splitTaskHandler } from '#lambdas/tasks/split-task/handler.ts';
import { createHandler as submitTaskHandler } from '#lambdas/tasks/submit-task/handler.ts';
import {
  createHandlerHarness,
  type HandlerHarness,
  httpEvent,
  invoke,
  lambdaContext,
} from '#test/support/handler-harness.ts';
import {
  generationSpec,
  PILOT_SCOPES,
  PILOT_SUB,
  registerPilot,
  submitTask,
  USER_SCOPES,
} from '../task-flow.ts';

const INTERNAL = '{"error":{"code":"INTERNAL","message":"internal error"}}';
const SECRET = 'connect ECONNREFUSED 10.9.8.7:8000 (table prod-secret-tasks, key AKIAEXAMPLE)';

let h: HandlerHarness;

beforeAll(async () => {
  h = await createHandlerHarness();
});

afterAll(async () => {
  await h?.close();
});

/** The task store of the harness with one method replaced by one that throws `error`. */
function failing<K extends keyof TaskStore>(method: K, error: unknown): TaskStore {
  const store = h.deps.tasks;
  return new Proxy(store, {
    get(target, property, receiver) {
      if (property === method) return async () => Promise.reject(error);
      const value = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

describe('5xx answers of the HTTP handlers', () => {
  it('answers 500 with the bare internal body when a dependency throws a plain Error', async () => {
    const handler = getTaskHandler({ tasks: failing('get', new Error(SECRET)) });
    const result = await handler(
      httpEvent({
        method: 'GET',
        path: '/tasks/{taskId}',
        pathParameters: { taskId: 't-abcdefgh' },
        scopes: USER_SCOPES,
      }),
      lambdaContext('get-task'),
    );
    expect(result).toEqual({
      statusCode: 500,
      headers: { 'content-type': 'application/json' },
      body: INTERNAL,
    });
  });

  it('answers 500 the same way to a thrown non-Error and to a TypeError from a bug', async () => {
    const submit = submitTaskHandler({ ...h.deps, tasks: failing('create', { secret: SECRET }) });
    const submitted = await invoke(
      submit,
      httpEvent({ method: 'POST', path: '/tasks', body: generationSpec(1), scopes: USER_SCOPES }),
    );
    expect(submitted.statusCode).toBe(500);
    expect(submitted.body).toBe(INTERNAL);

    const pilotId = await registerPilot(h);
    const claim = claimJobHandler({
      ...h.deps,
      tasks: failing('get', new TypeError(`Cannot read 'spec' (${SECRET})`)),
    });
    const taskId = await submitTask(h, generationSpec(1));
    await h.deps.jobs.createQueued([
      {
        taskId,
        jobIndex: 0,
        jobId: `${taskId}.0`,
        owner: 'alice',
        state: 'queued',
        attempt: 1,
        failures: 0,
        siteId: 'test-site',
        createdAt: h.clock.now().toISOString(),
        updatedAt: h.clock.now().toISOString(),
        attempts: [],
      },
    ]);
    const claimed = await invoke(
      claim,
      httpEvent({
        method: 'POST',
        path: '/pilots/{pilotId}/claim',
        pathParameters: { pilotId },
        body: { taskId, jobIndex: 0, attempt: 1 },
        sub: PILOT_SUB,
        scopes: PILOT_SCOPES,
      }),
    );
    expect(claimed.statusCode).toBe(500);
    expect(claimed.body).toBe(INTERNAL);
  });

  it('answers 500 without the table name when the real adapter meets a missing table', async () => {
    const tasks = new DynamoDbTaskStore(h.db, 'it-no-such-table-secret');
    const result = await invoke(
      listTasksHandler({ tasks }),
      httpEvent({ method: 'GET', path: '/tasks', scopes: USER_SCOPES }),
    );
    expect(result.statusCode).toBe(500);
    expect(result.body).toBe(INTERNAL);
  });

  it('hides the message of a fatal error but keeps its code', async () => {
    const handler = getTaskHandler({ tasks: failing('get', new FatalError(SECRET)) });
    const result = await invoke(
      handler,
      httpEvent({
        method: 'GET',
        path: '/tasks/{taskId}',
        pathParameters: { taskId: 't-abcdefgh' },
        scopes: USER_SCOPES,
      }),
    );
    expect(result.statusCode).toBe(500);
    expect(JSON.parse(result.body ?? '')).toEqual({ error: { code: 'FATAL', message: 'internal error' } });
  });

  it('answers 503 to a transient failure, with its message and nothing more', async () => {
    const handler = getTaskHandler({
      tasks: failing('get', new TransientError('the task store is busy; try again')),
    });
    const result = await invoke(
      handler,
      httpEvent({
        method: 'GET',
        path: '/tasks/{taskId}',
        pathParameters: { taskId: 't-abcdefgh' },
        scopes: USER_SCOPES,
      }),
    );
    expect(result.statusCode).toBe(503);
    expect(JSON.parse(result.body ?? '')).toEqual({
      error: { code: 'TRANSIENT', message: 'the task store is busy; try again' },
    });
  });
});

describe('errors of the workflow handlers', () => {
  it('rethrow what a dependency threw, name and all, for Step Functions to match', async () => {
    const taskId = await submitTask(h, generationSpec(1));
    const boom = new Error(SECRET);
    const handler = splitTaskHandler({ ...h.deps, tasks: failing('transition', boom) });
    await expect(invoke(handler, { taskId })).rejects.toBe(boom);
    expect((await h.deps.tasks.get(taskId))?.state).toBe('submitted');
  });
});
