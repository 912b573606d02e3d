import { describe, expect, it } from 'vitest';
import { NotFoundError, ValidationError } from '#core/errors.ts';
import {
  advanceMetaTask,
  waitForNodes,
  wakeMetaTasksOfEndedTasks,
} from '#core/meta-tasks/advance-meta-task.ts';
import { renderGraph } from '#core/meta-tasks/graph-text.ts';
import { getMetaTask, listMetaTasks } from '#core/meta-tasks/read-meta-tasks.ts';
import {
  cancelMetaTask,
  pauseMetaTask,
  resumeMetaTask,
  retryMetaTask,
} from '#core/meta-tasks/steer-meta-task.ts';
import { submitMetaTask } from '#core/meta-tasks/submit-meta-task.ts';
import type { InMemoryDeps } from '../../../support/in-memory-ports.ts';
import { inMemoryDeps } from '../../../support/in-memory-ports.ts';

const alice = { sub: 'alice', scopes: ['compute.create'] };
const payload = { command: 'sh', args: ['-c', 'echo x > out.txt'] };
const genTask = { payload, events: 2, split: { eventsPerJob: 1 }, outputs: ['out.txt'] };
// a → b, a → c, c → d (all generation nodes: edges order them)
const dag = {
  name: 'fan',
  nodes: ['a', 'b', 'c', 'd'].map((name) => ({ name, task: genTask })),
  edges: [
    { from: 'a', to: 'b' },
    { from: 'a', to: 'c' },
    { from: 'c', to: 'd' },
  ],
};

async function end(deps: InMemoryDeps, taskId: string, state: 'done' | 'failed'): Promise<void> {
  const at = deps.clock.now().toISOString();
  if (state === 'failed') {
    expect(await deps.tasks.transition(taskId, 'fail', { at, reason: 'jobs failed' })).toBe(true);
    return;
  }
  for (const event of ['split', 'run', 'complete'] as const)
    expect(await deps.tasks.transition(taskId, event, { at })).toBe(true);
}

async function nodeTask(deps: InMemoryDeps, id: string, node: string): Promise<string> {
  const m = await deps.metaTasks.get(id);
  const taskId = m?.nodes.find((n) => n.name === node)?.taskId;
  if (taskId === undefined) throw new Error(`node ${node} has no task`);
  return taskId;
}

describe('the meta-task loop', () => {
  it('runs a DAG where one branch fails: its child is skipped, the rest runs, it ends partial; retry completes it', async () => {
    const deps = inMemoryDeps();
    const { metaTaskId } = await submitMetaTask(deps, alice, dag);
    expect(deps.metaTaskWorkflow.started).toEqual([{ metaTaskId }]);

    expect(await advanceMetaTask(deps, metaTaskId)).toMatchObject({ ended: false });
    const a = await nodeTask(deps, metaTaskId, 'a');
    const taskA = await deps.tasks.get(a);
    expect(taskA).toMatchObject({ name: 'fan.a', owner: 'alice', metaTask: { metaTaskId, node: 'a' } });
    // A replayed Advance finds the same task (idempotency key per node and try).
    await advanceMetaTask(deps, metaTaskId);
    expect(await nodeTask(deps, metaTaskId, 'a')).toBe(a);

    // The node's task ends before the wait stored its token: the wait releases itself.
    await end(deps, a, 'done');
    await waitForNodes(deps, metaTaskId, 'token-1');
    expect(deps.metaTaskWorkflow.released).toEqual([{ token: 'token-1', metaTaskId }]);

    await advanceMetaTask(deps, metaTaskId);
    const b = await nodeTask(deps, metaTaskId, 'b');
    const c = await nodeTask(deps, metaTaskId, 'c');
    await waitForNodes(deps, metaTaskId, 'token-2');
    expect(deps.metaTaskWorkflow.released).toHaveLength(1);

    // The tasks change feed wakes the meta-task when a node's task ends.
    await end(deps, c, 'failed');
    const head = await deps.tasks.getHead(c);
    expect(
      await wakeMetaTasksOfEndedTasks(deps, [{ before: { ...head, state: 'submitted' }, after: head }]),
    ).toBe(1);
    await advanceMetaTask(deps, metaTaskId);
    let view = await getMetaTask(deps, alice, metaTaskId);
    expect(view.nodes.map((n) => [n.name, n.state])).toEqual([
      ['a', 'done'],
      ['b', 'running'],
      ['c', 'failed'],
      ['d', 'skipped'],
    ]);
    expect(view.nodes[3]?.reason).toBe('stopped below c (failed)');

    await end(deps, b, 'done');
    expect(await advanceMetaTask(deps, metaTaskId)).toEqual({ metaTaskId, ended: true, state: 'partial' });

    view = await retryMetaTask(deps, alice, metaTaskId);
    expect(view.state).toBe('running');
    expect(deps.metaTaskWorkflow.started.at(-1)).toEqual({ metaTaskId, retry: 1 });
    expect(view.nodes.find((n) => n.name === 'c')).toMatchObject({
      state: 'pending',
      history: [{ taskId: c, state: 'failed' }],
    });
    expect(view.nodes.find((n) => n.name === 'b')).toMatchObject({ state: 'done', taskId: b });

    await advanceMetaTask(deps, metaTaskId);
    const c2 = await nodeTask(deps, metaTaskId, 'c');
    expect(c2).not.toBe(c);
    // Each try writes a dataset of its own: the first try's (closed at its end) is never reused.
    expect((await deps.tasks.getSpec(c))?.outputDataset).toBe(`user.alice:fan.c.${metaTaskId}.output`);
    expect((await deps.tasks.getSpec(c2))?.outputDataset).toBe(`user.alice:fan.c.${metaTaskId}.r1.output`);
    await end(deps, c2, 'done');
    await advanceMetaTask(deps, metaTaskId);
    await end(deps, await nodeTask(deps, metaTaskId, 'd'), 'done');
    expect(await advanceMetaTask(deps, metaTaskId)).toMatchObject({ ended: true, state: 'done' });
    await expect(retryMetaTask(deps, alice, metaTaskId)).rejects.toThrow(
      /only a failed, partial or cancelled/,
    );
  });

  it('cancels: running nodes’ tasks are cancelled, pending nodes cancelled when it ends', async () => {
    const deps = inMemoryDeps();
    const { metaTaskId } = await submitMetaTask(deps, alice, dag);
    await advanceMetaTask(deps, metaTaskId);
    const a = await nodeTask(deps, metaTaskId, 'a');
    await waitForNodes(deps, metaTaskId, 'tok');
    await cancelMetaTask(deps, alice, metaTaskId);
    expect((await deps.tasks.getHead(a))?.cancelRequested).toBe(true);
    expect(await advanceMetaTask(deps, metaTaskId)).toMatchObject({ ended: false });
    await deps.tasks.transition(a, 'cancel', { at: deps.clock.now().toISOString() });
    expect(await advanceMetaTask(deps, metaTaskId)).toMatchObject({ ended: true, state: 'cancelled' });
    const view = await getMetaTask(deps, alice, metaTaskId);
    expect(view.nodes.map((n) => n.state)).toEqual(['cancelled', 'cancelled', 'cancelled', 'cancelled']);
  });

  it('starts no node while paused and the ready ones on resume', async () => {
    const deps = inMemoryDeps();
    const { metaTaskId } = await submitMetaTask(deps, alice, dag);
    await advanceMetaTask(deps, metaTaskId);
    const a = await nodeTask(deps, metaTaskId, 'a');
    expect((await pauseMetaTask(deps, alice, metaTaskId)).nodes[0]?.state).toBe('paused');
    expect((await deps.tasks.getHead(a))?.paused).toBe(true);
    await end(deps, a, 'done');
    await advanceMetaTask(deps, metaTaskId);
    expect((await getMetaTask(deps, alice, metaTaskId)).nodes.filter((n) => n.state === 'running')).toEqual(
      [],
    );
    await waitForNodes(deps, metaTaskId, 'tok');
    expect(deps.metaTaskWorkflow.released).toEqual([]);
    await resumeMetaTask(deps, alice, metaTaskId);
    expect(deps.metaTaskWorkflow.released).toEqual([{ token: 'tok', metaTaskId }]);
    await advanceMetaTask(deps, metaTaskId);
    expect(
      (await getMetaTask(deps, alice, metaTaskId)).nodes
        .filter((n) => n.state === 'running')
        .map((n) => n.name),
    ).toEqual(['b', 'c']);
  });
});

describe('access and bad input', () => {
  it('hides another user’s meta-task and lists only one’s own', async () => {
    const deps = inMemoryDeps();
    const { metaTaskId } = await submitMetaTask(deps, alice, dag);
    const bob = { sub: 'bob', scopes: ['compute.read'] };
    await expect(getMetaTask(deps, bob, metaTaskId)).rejects.toBeInstanceOf(NotFoundError);
    await expect(cancelMetaTask(deps, bob, metaTaskId)).rejects.toBeInstanceOf(NotFoundError);
    expect((await getMetaTask(deps, { sub: 'op', scopes: ['gluon.admin'] }, metaTaskId)).owner).toBe('alice');
    expect((await listMetaTasks(deps, bob, { limit: 10 })).items).toEqual([]);
    expect((await listMetaTasks(deps, alice, { limit: 10 })).items).toEqual([
      expect.objectContaining({ metaTaskId, name: 'fan', state: 'running', nodes: 4 }),
    ]);
  });

  it('writes nothing for a spec with a cycle', async () => {
    const deps = inMemoryDeps();
    const cyclic = { ...dag, edges: [...dag.edges, { from: 'd', to: 'a' }] };
    await expect(submitMetaTask(deps, alice, cyclic)).rejects.toBeInstanceOf(ValidationError);
    expect(deps.metaTasks.items.size).toBe(0);
    expect(deps.metaTaskWorkflow.started).toEqual([]);
  });
});

describe('renderGraph', () => {
  it('draws nodes in topological order, below their parent, with state, task, counts and parents', async () => {
    const deps = inMemoryDeps();
    const { metaTaskId } = await submitMetaTask(deps, alice, {
      name: 'zmumu-chain',
      nodes: [
        { name: 'gen', task: genTask },
        { name: 'reco', task: { payload, outputs: ['r.txt'] } },
        { name: 'merge', merge: { filesPerMerge: 2, payload, outputs: ['m.txt'] } },
      ],
      edges: [
        { from: 'gen', to: 'reco' },
        { from: 'reco', to: 'merge', when: 'partial', minFraction: 0.8 },
      ],
    });
    await advanceMetaTask(deps, metaTaskId);
    const gen = await nodeTask(deps, metaTaskId, 'gen');
    const text = renderGraph(await getMetaTask(deps, alice, metaTaskId));
    const lines = text.split('\n');
    expect(lines[0]).toBe(`zmumu-chain  ${metaTaskId}  running`);
    expect(lines[1]).toMatch(new RegExp(`^  gen\\s+running\\s+${gen}\\s+0/2 finished$`));
    expect(lines[2]).toMatch(/^ {2}└─ reco\s+pending\s+← gen$/);
    expect(lines[3]).toMatch(/^ {5}└─ merge\s+pending\s+← reco \(partial ≥ 0\.8\)$/);
  });

  it('passes a child the dataset its parent’s try wrote, its own per meta-task (the same spec twice never collides)', async () => {
    const deps = inMemoryDeps();
    const chain = {
      name: 'pair',
      shape: 'chain',
      nodes: [
        { name: 'gen', task: genTask },
        { name: 'reco', task: { payload, outputs: ['out.txt'] } },
      ],
    };
    const first = await submitMetaTask(deps, alice, chain);
    const second = await submitMetaTask(deps, alice, chain);
    for (const { metaTaskId } of [first, second]) {
      await advanceMetaTask(deps, metaTaskId);
      await end(deps, await nodeTask(deps, metaTaskId, 'gen'), 'done');
      await advanceMetaTask(deps, metaTaskId);
      const reco = await deps.tasks.getSpec(await nodeTask(deps, metaTaskId, 'reco'));
      expect(reco?.inputs?.dataset).toBe(`user.alice:pair.gen.${metaTaskId}.output`);
      expect(reco?.outputDataset).toBe(`user.alice:pair.reco.${metaTaskId}.output`);
      const view = await getMetaTask(deps, alice, metaTaskId);
      expect(view.nodes.map((n) => n.outputDataset)).toEqual([
        `user.alice:pair.gen.${metaTaskId}.output`,
        `user.alice:pair.reco.${metaTaskId}.output`,
      ]);
    }
  });
});
