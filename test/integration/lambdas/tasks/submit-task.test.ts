import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorBody } from '#core/api/common.ts';
import type { SubmitTaskResponse } from '#core/api/tasks.ts';
import { createHandler } from '#lambdas/tasks/submit-task/handler.ts';
import {
  createHandlerHarness,
  type HandlerHarness,
  httpEvent,
  invokeHttp,
  issueFields,
} from '#test/support/handler-harness.ts';
import { generationSpec, USER_SCOPES } from '../task-flow.ts';

let h: HandlerHarness;

beforeAll(async () => {
  h = await createHandlerHarness();
});

afterAll(async () => {
  await h?.close();
});

function submit(body: unknown, sub: string | null = 'alice', headers: Record<string, string> = {}) {
  return invokeHttp<SubmitTaskResponse & ErrorBody>(
    createHandler(h.deps),
    httpEvent({ method: 'POST', path: '/tasks', body, sub, scopes: USER_SCOPES, headers }),
  );
}

/** Task items of one owner, straight from the table. */
async function taskItemsOf(owner: string): Promise<Array<Record<string, unknown>>> {
  return (await h.scan('tasks')).filter((item) => item.owner === owner);
}

describe('submit-task handler', () => {
  it('answers 201 with the task id, stores the task as submitted and starts its workflow', async () => {
    const reply = await submit(generationSpec(10));

    expect(reply.statusCode).toBe(201);
    expect(reply.headers['content-type']).toBe('application/json');
    expect(reply.body).toEqual({
      taskId: expect.stringMatching(/^t-[0-9a-z]+$/),
      state: 'submitted',
      jobCount: 10,
    });
    const { taskId } = reply.body;

    const task = await h.deps.tasks.get(taskId);
    expect(task).toMatchObject({
      taskId,
      owner: 'alice',
      name: 'mc-gen',
      state: 'submitted',
      jobCount: 10,
      jobsEnqueued: 0,
      cancelRequested: false,
      cancelSwept: false,
      siteIds: [],
      createdAt: h.clock.now().toISOString(),
      history: [{ state: 'submitted', at: h.clock.now().toISOString() }],
    });
    // The stored spec is the validated one, defaults filled in.
    expect(task?.spec).toMatchObject({ maxAttempts: 3, priority: 500, resources: { cores: 1 } });
    expect(h.workflow.started).toContain(taskId);
    expect(h.workflow.started.filter((id) => id === taskId)).toHaveLength(1);
    // No job is written at submission (nor at enqueue: a job's record comes with its first claim).
    expect(await h.deps.jobs.list(taskId, 0, 10)).toEqual({ records: [], more: false });
    expect(
      (await h.scan('tasks'))
        .filter((i) => i.taskId === taskId)
        .map((i) => i.sk)
        .sort(),
    ).toEqual(['#spec', 'task']);
  });

  it('rejects a bad spec with 400 naming each bad field, and stores and starts nothing', async () => {
    const startedBefore = h.workflow.started.length;
    const reply = await submit(
      {
        name: 'bad name!',
        payload: { args: 'not-a-list' },
        events: 0,
        split: { eventsPerJob: 0 },
        priority: 5000,
        colour: 'blue',
      },
      'bob',
    );

    expect(reply.statusCode).toBe(400);
    expect(reply.body.error.code).toBe('INVALID_INPUT');
    expect(issueFields(reply.body)).toEqual(
      [
        'colour',
        'events',
        'name',
        'payload.args',
        'payload.command',
        'priority',
        'split.eventsPerJob',
      ].sort(),
    );
    for (const issue of reply.body.error.issues ?? []) expect(issue.message).not.toBe('');
    expect(await taskItemsOf('bob')).toEqual([]);
    expect(h.workflow.started).toHaveLength(startedBefore);
  });

  it('names nested fields of the spec with their path, e.g. resources.memoryMB', async () => {
    const reply = await submit(
      generationSpec(1, {
        resources: { memoryMB: 1, walltimeSec: 0 },
        payload: { command: 'gen', env: { 'BAD-NAME': 'x' } },
      }),
      'bob',
    );
    expect(reply.statusCode).toBe(400);
    expect(issueFields(reply.body)).toEqual([
      'payload.env.BAD-NAME',
      'resources.memoryMB',
      'resources.walltimeSec',
    ]);
    expect(await taskItemsOf('bob')).toEqual([]);
  });

  it('rejects a spec that breaks a cross-field rule with the field named', async () => {
    const reply = await submit({ name: 'gen', payload: { command: 'gen' }, events: 100 }, 'bob');
    expect(reply.statusCode).toBe(400);
    expect(issueFields(reply.body)).toEqual(['split.eventsPerJob']);
    expect(await taskItemsOf('bob')).toEqual([]);
  });

  it('rejects a body that is not JSON, or no body, with 400 naming the field body', async () => {
    for (const body of ['{"name": "gen", ', 'name: gen']) {
      const reply = await submit(body, 'bob');
      expect(reply.statusCode).toBe(400);
      expect(reply.body.error.issues).toEqual([{ field: 'body', message: 'not valid JSON' }]);
    }
    const event = httpEvent({ method: 'POST', path: '/tasks', sub: 'bob', scopes: USER_SCOPES });
    const empty = await invokeHttp<ErrorBody>(createHandler(h.deps), event);
    expect(empty.statusCode).toBe(400);
    expect(issueFields(empty.body)).toEqual(['body']);
    expect(await taskItemsOf('bob')).toEqual([]);
  });

  it('reads a base64-encoded body as API Gateway may send it', async () => {
    const event = httpEvent({ method: 'POST', path: '/tasks', sub: 'erin', scopes: USER_SCOPES });
    event.body = Buffer.from(JSON.stringify(generationSpec(2))).toString('base64');
    event.isBase64Encoded = true;
    const reply = await invokeHttp<SubmitTaskResponse>(createHandler(h.deps), event);
    expect(reply.statusCode).toBe(201);
    expect(reply.body.jobCount).toBe(2);
  });

  it('answers 401 to a token without a subject, storing nothing', async () => {
    const before = (await h.scan('tasks')).length;
    const startedBefore = h.workflow.started.length;
    const reply = await submit(generationSpec(), null);
    expect(reply.statusCode).toBe(401);
    expect(reply.body.error.code).toBe('UNAUTHORIZED');
    expect(await h.scan('tasks')).toHaveLength(before);
    expect(h.workflow.started).toHaveLength(startedBefore);
  });

  it('answers 503 when the workflow cannot start, and the task is failed, not left submitted', async () => {
    h.workflow.failStartWith = new Error('StartExecution: connect ECONNREFUSED 10.0.0.1:443');
    try {
      const reply = await submit(generationSpec(4), 'carol');
      expect(reply.statusCode).toBe(503);
      expect(reply.headers['retry-after']).toBe('2');
      expect(reply.body.error).toEqual({
        code: 'TRANSIENT',
        message: 'the task workflow could not be started; submit again',
      });
      expect(JSON.stringify(reply.body)).not.toContain('ECONNREFUSED');
    } finally {
      h.workflow.failStartWith = undefined;
    }

    const items = await taskItemsOf('carol');
    expect(items).toHaveLength(1);
    const task = await h.deps.tasks.get(String(items[0]?.taskId));
    expect(task?.state).toBe('failed');
    expect(task?.reason).toMatch(/workflow could not be started/);
    expect(task?.endedAt).toBeDefined();
    expect(task?.history.map((c) => c.state)).toEqual(['submitted', 'failed']);
    expect(h.workflow.started).not.toContain(task?.taskId);
  });

  describe('with an Idempotency-Key header', () => {
    it('answers a repeat with the first task (201, same taskId) and stores one task', async () => {
      const key = { 'idempotency-key': 'submit-0001-abcdef' };
      const first = await submit(generationSpec(5), 'idem-dave', key);
      const again = await submit(generationSpec(5), 'idem-dave', key);
      expect(first.statusCode).toBe(201);
      expect(again.statusCode).toBe(201);
      expect(again.body).toEqual(first.body);
      expect((await taskItemsOf('idem-dave')).map((i) => i.taskId)).toEqual([first.body.taskId]);
    });

    it('refuses the key with another spec with 409 naming the header, storing nothing more', async () => {
      const key = { 'idempotency-key': 'submit-0002-abcdef' };
      const first = await submit(generationSpec(5), 'idem-erin', key);
      const other = await submit(generationSpec(6), 'idem-erin', key);
      expect(other.statusCode).toBe(409);
      expect(other.body.error.code).toBe('CONFLICT');
      expect(other.body.error.message).toContain('Idempotency-Key submit-0002-abcdef');
      expect((await taskItemsOf('idem-erin')).map((i) => i.taskId)).toEqual([first.body.taskId]);
    });

    it('rejects a malformed key with 400 naming header.idempotency-key, storing nothing', async () => {
      const reply = await submit(generationSpec(5), 'idem-frank', { 'idempotency-key': 'no#hash' });
      expect(reply.statusCode).toBe(400);
      expect(issueFields(reply.body)).toEqual(['header.idempotency-key']);
      expect(await taskItemsOf('idem-frank')).toEqual([]);
    });
  });
});
