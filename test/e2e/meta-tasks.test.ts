import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MetaTaskView } from '#core/api/meta-tasks.ts';
import type { LocalStack } from '#local/stack.ts';
import { Api, startTestStack, tempStateDir, waitFor } from '#test/support/e2e.ts';

let stack: LocalStack;
let api: Api;
const markers = tempStateDir('meta-task-markers');
const marker = join(markers, 'c-may-run');

beforeAll(async () => {
  stack = await startTestStack('meta-tasks', { pilots: 2, inMemory: true, pilotIdleExitSec: 20 });
  api = new Api(stack.apiUrl, stack.userToken);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

/** A one-job generation node writing a small output; `script` runs first (its failure fails the job). */
function node(name: string, script = 'true') {
  return {
    name,
    task: {
      payload: { command: 'sh', args: ['-c', `${script} && echo ${name} > out.txt`] },
      events: 1,
      split: { eventsPerJob: 1 },
      resources: { cores: 1, memoryMB: 256, walltimeSec: 120, diskMB: 100 },
      maxAttempts: 1,
      outputs: ['out.txt'],
    },
  };
}

async function finalView(metaTaskId: string, timeoutMs = 150_000): Promise<MetaTaskView> {
  return waitFor(
    async () => {
      const view = await api.client.call('getMetaTask', { params: { metaTaskId } });
      return ['done', 'partial', 'failed', 'cancelled'].includes(view.state) ? view : undefined;
    },
    { timeoutMs, intervalMs: 500, what: `meta-task ${metaTaskId} to end` },
  );
}

describe('a DAG a → b, a → c → d where c fails', () => {
  it('stops only below c, ends partial; retry from c completes the DAG', async () => {
    const spec = {
      name: 'fan',
      nodes: [node('a'), node('b'), node('c', `test -f ${marker}`), node('d')],
      edges: [
        { from: 'a', to: 'b' },
        { from: 'a', to: 'c' },
        { from: 'c', to: 'd' },
      ],
    };
    const { metaTaskId } = await api.client.call('submitMetaTask', { body: spec });
    const first = await finalView(metaTaskId);
    const states = Object.fromEntries(first.nodes.map((n) => [n.name, n.state]));
    expect(states).toEqual({ a: 'done', b: 'done', c: 'failed', d: 'skipped' });
    expect(first.state).toBe('partial');
    const d = first.nodes.find((n) => n.name === 'd');
    expect(d?.reason).toBe('stopped below c (failed)');
    expect(d?.taskId).toBeUndefined();
    const c = first.nodes.find((n) => n.name === 'c');
    expect(c?.counts?.failed).toBe(1);
    const b = first.nodes.find((n) => n.name === 'b');
    // The node's task records its meta-task and is named <meta-task>.<node>.
    const taskB = await api.task(b?.taskId as string);
    expect(taskB.name).toBe('fan.b');

    // The failure goes away; retry runs c (a new task) and d, not a and b again.
    writeFileSync(marker, 'ok\n');
    expect(existsSync(marker)).toBe(true);
    const retried = await api.client.call('retryMetaTask', { params: { metaTaskId } });
    expect(retried.state).toBe('running');
    const done = await finalView(metaTaskId);
    expect(done.state).toBe('done');
    expect(done.nodes.every((n) => n.state === 'done')).toBe(true);
    const c2 = done.nodes.find((n) => n.name === 'c');
    expect(c2?.taskId).not.toBe(c?.taskId);
    expect(c2?.history).toEqual([{ taskId: c?.taskId, state: 'failed' }]);
    expect(done.nodes.find((n) => n.name === 'a')?.taskId).toBe(
      first.nodes.find((n) => n.name === 'a')?.taskId,
    );
    expect(done.nodes.find((n) => n.name === 'b')?.history).toEqual([]);
  }, 360_000);

  it('refuses a cycle with a 400 naming edges, and nothing is listed', async () => {
    const before = (await api.client.call('listMetaTasks', { query: { limit: 100 } })).items.length;
    const reply = await api.post<{ error: { issues: Array<{ field: string }> } }>('/meta-tasks', {
      name: 'loop',
      nodes: [node('x'), node('y')],
      edges: [
        { from: 'x', to: 'y' },
        { from: 'y', to: 'x' },
      ],
    });
    expect(reply.status).toBe(400);
    expect(reply.body.error.issues.map((i) => i.field)).toEqual(['edges']);
    expect((await api.client.call('listMetaTasks', { query: { limit: 100 } })).items.length).toBe(before);
  });
});
