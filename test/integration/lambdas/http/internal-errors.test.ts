/**
 * How failures reach callers. 5xx answers never carry internals: whatever a dependency throws (a
 * plain Error, an SDK error naming a table, a fatal error), the body is the same short one. A
 * service that is busy or does not answer in time is a 503 with `retry-after`, so callers try
 * again. Workflow steps rethrow what they met, name and all, for Step Functions to match.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dynamoDbClient, dynamoDbDocumentClient } from '#adapters/aws-clients.ts';
import { DynamoDbTaskStore } from '#adapters/dynamodb/dynamodb-task-store.ts';
import { FatalError, TransientError } from '#core/errors.ts';
import { createHandler as claimJobHandler } from '#lambdas/jobs/claim-job/handler.ts';
import { createHandler as completeJobHandler } from '#lambdas/jobs/complete-job/handler.ts';
import { createHandler as listJobsHandler } from '#lambdas/jobs/list-jobs/handler.ts';
import { createHandler as registerPilotHandler } from '#lambdas/pilots/register-pilot/handler.ts';
import { createHandler as siteDemandHandler } from '#lambdas/sites/site-demand/handler.ts';
import { createHandler as getTaskHandler } from '#lambdas/tasks/get-task/handler.ts';
import { createHandler as listTasksHandler } from '#lambdas/tasks/list-tasks/handler.ts';
import { createHandler as splitTaskHandler } from '#lambdas/tasks/split-task/handler.ts';
import { createHandler as submitTaskHandler } from '#lambdas/tasks/submit-task/handler.ts';
import {
  createHandlerHarness,
  type HandlerHarness,
  type HttpEvent,
  httpEvent,
  invoke,
  TEST_SITE,
} from '#test/support/handler-harness.ts';
import { useStandInsEnv } from '#test/support/stand-ins-env.ts';
import {
  claimBody,
  generationSpec,
  nth,
  PILOT_RESOURCES,
  PILOT_SCOPES,
  PILOT_SUB,
  refOf,
  registerPilot,
  report,
  runningTask,
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

/** `store` with one method replaced by one that rejects with `error`. */
function failing<T extends object>(store: T, method: keyof T, error: unknown): T {
  return new Proxy(store, {
    get(target, property, receiver) {
      if (property === method) return async () => Promise.reject(error);
      const value = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

function getTaskEvent(taskId = 't-abcdefgh'): HttpEvent {
  return httpEvent({
    method: 'GET',
    path: '/tasks/{taskId}',
    pathParameters: { taskId },
    scopes: USER_SCOPES,
  });
}

describe('500 answers of the HTTP handlers', () => {
  it('answers 500 with the bare internal body when a dependency throws a plain Error', async () => {
    const handler = getTaskHandler({ tasks: failing(h.deps.tasks, 'get', new Error(SECRET)) });
    expect(await invoke(handler, getTaskEvent())).toEqual({
      statusCode: 500,
      headers: { 'content-type': 'application/json' },
      body: INTERNAL,
    });
  });

  it('answers 500 the same way to a thrown non-Error and to a TypeError from a bug', async () => {
    const submit = submitTaskHandler({
      ...h.deps,
      tasks: failing(h.deps.tasks, 'create', { secret: SECRET }),
    });
    const submitted = await invoke(
      submit,
      httpEvent({ method: 'POST', path: '/tasks', body: generationSpec(1), scopes: USER_SCOPES }),
    );
    expect(submitted.statusCode).toBe(500);
    expect(submitted.body).toBe(INTERNAL);

    const pilotId = await registerPilot(h);
    const { messages } = await runningTask(h, generationSpec(1));
    const claim = claimJobHandler({
      ...h.deps,
      tasks: failing(h.deps.tasks, 'getHead', new TypeError(`Cannot read 'spec' (${SECRET})`)),
    });
    const claimed = await invoke(
      claim,
      httpEvent({
        method: 'POST',
        path: '/pilots/{pilotId}/claim',
        pathParameters: { pilotId },
        body: claimBody(refOf(nth(messages, 0))),
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
    const handler = getTaskHandler({ tasks: failing(h.deps.tasks, 'get', new FatalError(SECRET)) });
    const result = await invoke(handler, getTaskEvent());
    expect(result.statusCode).toBe(500);
    expect(JSON.parse(result.body ?? '')).toEqual({ error: { code: 'FATAL', message: 'internal error' } });
  });
});

describe('503 answers of the HTTP handlers', () => {
  const busy = new TransientError('the store is busy; try again');

  it('answers 503 with retry-after and the transient message when an adapter throws a TransientError', async () => {
    const pilotId = await registerPilot(h);
    const { taskId, messages } = await runningTask(h, generationSpec(1));
    const ref = refOf(nth(messages, 0));
    const pilotEvent = (path: string, body: unknown) =>
      httpEvent({
        method: 'POST',
        path,
        pathParameters: { pilotId },
        body,
        sub: PILOT_SUB,
        scopes: PILOT_SCOPES,
      });
    const calls: Array<
      [string, Promise<{ statusCode?: number; headers?: Record<string, unknown>; body?: string }>]
    > = [
      [
        'get-task',
        invoke(getTaskHandler({ tasks: failing(h.deps.tasks, 'get', busy) }), getTaskEvent(taskId)),
      ],
      [
        'list-jobs',
        invoke(
          listJobsHandler({ ...h.deps, jobs: failing(h.deps.jobs, 'list', busy) }),
          httpEvent({
            method: 'GET',
            path: '/tasks/{taskId}/jobs',
            pathParameters: { taskId },
            scopes: USER_SCOPES,
          }),
        ),
      ],
      [
        'claim-job',
        invoke(
          claimJobHandler({ ...h.deps, leases: failing(h.deps.leases, 'hold', busy) }),
          pilotEvent('/pilots/{pilotId}/claim', claimBody(ref)),
        ),
      ],
      [
        'complete-job',
        invoke(
          completeJobHandler({ ...h.deps, jobs: failing(h.deps.jobs, 'update', busy) }),
          pilotEvent('/pilots/{pilotId}/complete', { ...report(ref), holds: [] }),
        ),
      ],
      [
        'register-pilot',
        invoke(
          registerPilotHandler({ ...h.deps, pilots: failing(h.deps.pilots, 'register', busy) }),
          httpEvent({
            method: 'POST',
            path: '/pilots',
            body: { siteId: TEST_SITE, host: 'wn01.test', pid: 1, resources: PILOT_RESOURCES },
            sub: PILOT_SUB,
            scopes: PILOT_SCOPES,
          }),
        ),
      ],
      [
        'site-demand',
        invoke(
          siteDemandHandler({ ...h.deps, queue: failing(h.deps.queue, 'depth', busy) }),
          httpEvent({
            method: 'GET',
            path: '/sites/{siteId}/demand',
            pathParameters: { siteId: TEST_SITE },
            sub: PILOT_SUB,
            scopes: PILOT_SCOPES,
          }),
        ),
      ],
    ];
    for (const [name, call] of calls) {
      const result = await call;
      expect(result.statusCode, name).toBe(503);
      expect(result.headers, name).toEqual({ 'content-type': 'application/json', 'retry-after': '2' });
      expect(JSON.parse(result.body ?? ''), name).toEqual({
        error: { code: 'TRANSIENT', message: 'the store is busy; try again' },
      });
    }
    // Nothing was written by the failed claim and report.
    expect(await h.deps.jobs.get(taskId, 0)).toBeUndefined();
  });

  it('answers 503 with a plain message, not the SDK one, to a throttling error that reached it untranslated', async () => {
    const throttled = Object.assign(new Error(`Rate exceeded for ${SECRET}`), {
      name: 'ThrottlingException',
      $metadata: { httpStatusCode: 400 },
    });
    const result = await invoke(
      getTaskHandler({ tasks: failing(h.deps.tasks, 'get', throttled) }),
      getTaskEvent(),
    );
    expect(result.statusCode).toBe(503);
    expect(result.headers).toMatchObject({ 'retry-after': '2' });
    expect(JSON.parse(result.body ?? '')).toEqual({
      error: { code: 'TRANSIENT', message: 'a service did not answer in time; try again' },
    });
  });

  it('answers 503 when DynamoDB accepts the connection and never answers: the request times out', async () => {
    const sockets = new Set<Socket>();
    const silent: Server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = silent.address();
    if (typeof address !== 'object' || address === null) throw new Error('no address');
    const restore = useStandInsEnv({ AWS_ENDPOINT_URL_DYNAMODB: `http://127.0.0.1:${address.port}` });
    const client = dynamoDbClient({ requestTimeoutMs: 300, maxAttempts: 1 });
    try {
      const tasks = new DynamoDbTaskStore(dynamoDbDocumentClient(client), h.tables.tasks);
      const result = await invoke(getTaskHandler({ tasks }), getTaskEvent());
      expect(result.statusCode).toBe(503);
      expect(result.headers).toMatchObject({ 'retry-after': '2' });
      expect(JSON.parse(result.body ?? '').error.code).toBe('TRANSIENT');
      expect(result.body).not.toContain('127.0.0.1');
    } finally {
      client.destroy();
      restore();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});

describe('errors of the workflow handlers', () => {
  it('rethrow what a dependency threw, name and all, for Step Functions to match', async () => {
    const taskId = await submitTask(h, generationSpec(1));
    const boom = new Error(SECRET);
    await expect(
      invoke(splitTaskHandler({ ...h.deps, tasks: failing(h.deps.tasks, 'transition', boom) }), { taskId }),
    ).rejects.toBe(boom);
    const busy = new TransientError('sites busy');
    await expect(
      invoke(splitTaskHandler({ ...h.deps, sites: failing(h.deps.sites, 'list', busy) }), { taskId }),
    ).rejects.toMatchObject({ name: 'TransientError' });
    expect((await h.deps.tasks.getHead(taskId))?.state).toBe('submitted');
  });
});
