import { describe, expect, it } from 'vitest';
import { ValidationError } from '#core/errors.ts';
import {
  edgesOf,
  nodeTaskSpec,
  topologicalOrder,
  validateMetaTaskSpec,
} from '#core/meta-tasks/meta-task-spec.ts';
import { inputNames, jobAt, jobCount } from '#core/tasks/split-task.ts';
import type { TaskSpec } from '#core/tasks/task-spec.ts';

const payload = { command: 'sh', args: ['-c', 'echo hi > out.txt'] };
const gen = {
  name: 'gen',
  task: { payload, events: 100, split: { eventsPerJob: 50 }, outputs: ['out.txt'] },
};
const reco = { name: 'reco', task: { payload, outputs: ['reco.txt'] } };
const merge = {
  name: 'merge',
  merge: { filesPerMerge: 4, payload: { command: 'cat' }, outputs: ['merged.jsonl'] },
};

function issuesOf(value: unknown): Array<{ field: string; message: string }> {
  try {
    validateMetaTaskSpec(value, 'alice');
  } catch (error) {
    if (error instanceof ValidationError) return error.issues;
    throw error;
  }
  throw new Error('expected a ValidationError');
}

describe('validateMetaTaskSpec', () => {
  it('accepts a DAG and orders its nodes topologically', () => {
    const valid = validateMetaTaskSpec(
      {
        name: 'zmumu',
        nodes: [merge, reco, gen],
        edges: [
          { from: 'gen', to: 'reco' },
          { from: 'reco', to: 'merge', when: 'partial', minFraction: 0.8 },
        ],
      },
      'alice',
    );
    expect(valid.order).toEqual(['gen', 'reco', 'merge']);
    expect(valid.edges[0]).toEqual({ from: 'gen', to: 'reco', when: 'done' });
  });

  it('names the cycle in edges', () => {
    const issues = issuesOf({
      name: 'loop',
      nodes: [gen, reco, { name: 'sel', task: { payload } }],
      edges: [
        { from: 'gen', to: 'reco' },
        { from: 'reco', to: 'sel' },
        { from: 'sel', to: 'reco' },
      ],
    });
    expect(issues).toHaveLength(1);
    expect(issues[0]?.field).toBe('edges');
    expect(issues[0]?.message).toContain('reco → sel → reco');
  });

  it('names an edge to an unknown node as edges[i].to', () => {
    const issues = issuesOf({
      name: 'x',
      nodes: [gen, reco],
      edges: [
        { from: 'gen', to: 'reco' },
        { from: 'gen', to: 'nope' },
      ],
    });
    expect(issues).toEqual([{ field: 'edges[1].to', message: 'no node named nope' }]);
  });

  it('refuses duplicate node names', () => {
    expect(issuesOf({ name: 'x', shape: 'bag', nodes: [gen, gen] })).toEqual([
      { field: 'nodes[1].name', message: 'duplicate node name gen' },
    ]);
  });

  it('takes a chain’s edges from node order and refuses given ones', () => {
    const valid = validateMetaTaskSpec({ name: 'c', shape: 'chain', nodes: [gen, reco] }, 'alice');
    expect(edgesOf(valid.spec)).toEqual([{ from: 'gen', to: 'reco', when: 'done' }]);
    expect(
      issuesOf({ name: 'c', shape: 'chain', nodes: [gen, reco], edges: [{ from: 'gen', to: 'reco' }] })[0]
        ?.field,
    ).toBe('edges');
  });

  it('refuses edges in a bag, and a bag node without events or inputs as a task spec would', () => {
    expect(
      issuesOf({ name: 'b', shape: 'bag', nodes: [gen, reco], edges: [{ from: 'gen', to: 'reco' }] })[0]
        ?.field,
    ).toBe('edges');
    const issues = issuesOf({ name: 'b', shape: 'bag', nodes: [gen, reco] });
    expect(issues.map((i) => i.field)).toContain('nodes[1].task.events');
  });

  it('prefixes a node task spec’s bad field with nodes[i].task', () => {
    const issues = issuesOf({
      name: 'x',
      shape: 'bag',
      nodes: [
        {
          name: 'gen',
          task: { payload, events: 10, split: { eventsPerJob: 5 }, resources: { memoryMB: 1 } },
        },
      ],
    });
    expect(issues.map((i) => i.field)).toEqual(['nodes[0].task.resources.memoryMB']);
  });

  it('refuses a merge node without exactly one parent', () => {
    const issues = issuesOf({ name: 'x', shape: 'bag', nodes: [gen, merge] });
    expect(issues[0]?.field).toBe('nodes[1].merge');
  });

  it('refuses a data-reading node with several parents, but lets a generation node wait for several', () => {
    const two = { name: 'two', task: { payload } };
    const issues = issuesOf({
      name: 'x',
      nodes: [gen, { ...gen, name: 'gen2' }, two],
      edges: [
        { from: 'gen', to: 'two' },
        { from: 'gen2', to: 'two' },
      ],
    });
    expect(issues[0]?.field).toBe('nodes[2].task');
    expect(() =>
      validateMetaTaskSpec(
        {
          name: 'x',
          nodes: [gen, { ...gen, name: 'gen2' }, { ...gen, name: 'after' }],
          edges: [
            { from: 'gen', to: 'after' },
            { from: 'gen2', to: 'after' },
          ],
        },
        'alice',
      ),
    ).not.toThrow();
  });

  it('refuses a partial edge without minFraction and a child giving its own inputs', () => {
    expect(
      issuesOf({ name: 'x', nodes: [gen, reco], edges: [{ from: 'gen', to: 'reco', when: 'partial' }] })[0]
        ?.field,
    ).toBe('edges[0].minFraction');
    expect(
      issuesOf({
        name: 'x',
        nodes: [gen, { name: 'reco', task: { payload, inputs: { files: ['a'] } } }],
        edges: [{ from: 'gen', to: 'reco' }],
      })[0]?.field,
    ).toBe('nodes[1].task.inputs');
  });
});

describe('nodeTaskSpec', () => {
  const valid = validateMetaTaskSpec(
    {
      name: 'zmumu',
      nodes: [gen, { ...reco, inputsOptions: { remoteRead: true } }, merge],
      edges: [
        { from: 'gen', to: 'reco' },
        { from: 'reco', to: 'merge' },
      ],
    },
    'alice',
  );

  it('names the task <meta-task>.<node> and fills the child’s input from its parent’s output dataset', () => {
    const spec = nodeTaskSpec(valid.spec, valid.edges, 'reco', 'alice');
    expect(spec.name).toBe('zmumu.reco');
    expect(spec.inputs).toMatchObject({ dataset: 'user.alice:zmumu.gen.output', remoteRead: true });
    expect(spec.outputDataset).toBe('user.alice:zmumu.reco.output');
  });

  it('makes a merge step a task over its parent’s outputs, filesPerMerge per job, into its .merged dataset', () => {
    const spec = nodeTaskSpec(valid.spec, valid.edges, 'merge', 'alice');
    expect(spec.split.filesPerJob).toBe(4);
    expect(spec.inputs).toMatchObject({ dataset: 'user.alice:zmumu.reco.output' });
    expect(spec.outputDataset).toBe('user.alice:zmumu.merge.merged');
    expect(spec.outputs).toEqual(['merged.jsonl']);
  });
});

describe('merge grouping', () => {
  it('cuts the parent’s files into merge jobs of filesPerMerge files, the last one shorter', () => {
    const valid = validateMetaTaskSpec(
      { name: 'm', nodes: [gen, merge], edges: [{ from: 'gen', to: 'merge' }] },
      'alice',
    );
    const spec = nodeTaskSpec(valid.spec, valid.edges, 'merge', 'alice');
    // The parent's output dataset as resolved: ten files.
    const files = Array.from({ length: 10 }, (_, i) => `f${i}`);
    const resolved = { ...spec, inputs: { files } } as TaskSpec;
    const jobs = Array.from({ length: jobCount(resolved) }, (_, i) => inputNames(jobAt(resolved, i)));
    expect(jobs).toEqual([
      ['f0', 'f1', 'f2', 'f3'],
      ['f4', 'f5', 'f6', 'f7'],
      ['f8', 'f9'],
    ]);
  });
});

describe('topologicalOrder', () => {
  it('keeps spec order among independent nodes', () => {
    expect(topologicalOrder(['a', 'b', 'c'], [{ from: 'c', to: 'a' }])).toEqual({ order: ['b', 'c', 'a'] });
  });
});
