import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MetaTaskView } from '#core/api/meta-tasks.ts';
import { createHandler } from '#lambdas/meta-tasks/meta-task-api/handler.ts';
import {
  createHandlerHarness,
  type HandlerHarness,
  httpEvent,
  invokeHttp,
  issueFields,
} from '#test/support/handler-harness.ts';

const SCOPES = ['compute.create', 'compute.read', 'compute.cancel', 'compute.modify'];
const payload = { command: 'sh', args: ['-c', 'echo x > out.txt'] };
const gen = { name: 'gen', task: { payload, events: 2, split: { eventsPerJob: 1 }, outputs: ['out.txt'] } };
const reco = { name: 'reco', task: { payload, outputs: ['reco.txt'] } };

let h: HandlerHarness;

beforeAll(async () => {
  h = await createHandlerHarness();
});

afterAll(async () => {
  await h?.close();
});

type Reply = MetaTaskView & { metaTaskId: string; error?: { code: string; message: string } };

function call(
  method: 'GET' | 'POST',
  path: string,
  options: { body?: unknown; params?: Record<string, string>; sub?: string } = {},
) {
  return invokeHttp<Reply>(
    createHandler(h.deps),
    httpEvent({
      method,
      path,
      ...(options.params === undefined ? {} : { pathParameters: options.params }),
      ...(options.body === undefined ? {} : { body: options.body }),
      ...(options.sub === undefined ? {} : { sub: options.sub }),
      scopes: SCOPES,
    }),
  );
}

async function metaTaskItems(): Promise<number> {
  return (await h.scan('tasks')).filter((i) => String(i.taskId).startsWith('meta#')).length;
}

describe('POST /meta-tasks bad input', () => {
  it('refuses a cycle with a 400 naming edges, writing nothing', async () => {
    const reply = await call('POST', '/meta-tasks', {
      body: {
        name: 'loop',
        nodes: [gen, reco, { name: 'sel', task: { payload } }],
        edges: [
          { from: 'gen', to: 'reco' },
          { from: 'reco', to: 'sel' },
          { from: 'sel', to: 'reco' },
        ],
      },
    });
    expect(reply.statusCode).toBe(400);
    expect(issueFields(reply.body)).toEqual(['edges']);
    expect(reply.body.error?.message).toContain('reco → sel → reco');
    expect(await metaTaskItems()).toBe(0);
    expect(h.deps.metaTaskWorkflow.started).toEqual([]);
  });

  it('refuses an edge to an unknown node with a 400 naming edges[i].to, writing nothing', async () => {
    const reply = await call('POST', '/meta-tasks', {
      body: {
        name: 'x',
        nodes: [gen, reco],
        edges: [
          { from: 'gen', to: 'reco' },
          { from: 'gen', to: 'nope' },
        ],
      },
    });
    expect(reply.statusCode).toBe(400);
    expect(issueFields(reply.body)).toEqual(['edges[1].to']);
    expect(await metaTaskItems()).toBe(0);
  });

  it('names a bad node task field under nodes[i].task', async () => {
    const reply = await call('POST', '/meta-tasks', {
      body: { name: 'x', shape: 'bag', nodes: [{ name: 'gen', task: { ...gen.task, maxAttempts: 99 } }] },
    });
    expect(reply.statusCode).toBe(400);
    expect(issueFields(reply.body)).toEqual(['nodes[0].task.maxAttempts']);
    expect(await metaTaskItems()).toBe(0);
  });
});

describe('the meta-task API on DynamoDB Local', () => {
  it('stores a meta-task, starts its workflow, shows it to its owner only, lists it', async () => {
    const created = await call('POST', '/meta-tasks', {
      body: { name: 'zmumu-chain', shape: 'chain', nodes: [gen, reco] },
    });
    expect(created.statusCode).toBe(201);
    const { metaTaskId } = created.body;
    expect(metaTaskId).toMatch(/^m-/);
    expect(h.deps.metaTaskWorkflow.started).toEqual([{ metaTaskId }]);

    const view = await call('GET', '/meta-tasks/{metaTaskId}', { params: { metaTaskId } });
    expect(view.statusCode).toBe(200);
    expect(view.body).toMatchObject({
      metaTaskId,
      name: 'zmumu-chain',
      owner: 'alice',
      shape: 'chain',
      state: 'running',
      edges: [{ from: 'gen', to: 'reco', when: 'done' }],
    });
    expect(view.body.nodes.map((n) => [n.name, n.state, n.parents, n.outputDataset])).toEqual([
      ['gen', 'pending', [], 'user.alice:zmumu-chain.gen.output'],
      ['reco', 'pending', ['gen'], 'user.alice:zmumu-chain.reco.output'],
    ]);

    const other = await call('GET', '/meta-tasks/{metaTaskId}', { params: { metaTaskId }, sub: 'bob' });
    expect(other.statusCode).toBe(404);

    const list = await invokeHttp<{ items: Array<{ metaTaskId: string; nodes: number }> }>(
      createHandler(h.deps),
      httpEvent({ method: 'GET', path: '/meta-tasks', scopes: SCOPES }),
    );
    expect(list.statusCode).toBe(200);
    expect(list.body.items).toEqual([expect.objectContaining({ metaTaskId, nodes: 2, state: 'running' })]);

    // Retrying a running meta-task is refused (409), changing nothing.
    const retry = await call('POST', '/meta-tasks/{metaTaskId}/retry', { params: { metaTaskId } });
    expect(retry.statusCode).toBe(409);

    const cancelled = await call('POST', '/meta-tasks/{metaTaskId}/cancel', { params: { metaTaskId } });
    expect(cancelled.statusCode).toBe(200);
    expect(cancelled.body.state).toBe('running');
  });

  it('answers 400 naming the path for a malformed id', async () => {
    const reply = await call('GET', '/meta-tasks/{metaTaskId}', { params: { metaTaskId: 't-notameta' } });
    expect(reply.statusCode).toBe(400);
    expect(issueFields(reply.body)).toEqual(['path.metaTaskId']);
  });
});
