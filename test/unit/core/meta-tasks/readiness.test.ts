import { describe, expect, it } from 'vitest';
import type { NodeRecord } from '#core/meta-tasks/meta-task.ts';
import type { MetaTaskEdge } from '#core/meta-tasks/meta-task-spec.ts';
import { metaTaskEnd, nodeReadiness, nodesToRetry, planAdvance } from '#core/meta-tasks/readiness.ts';

type N = Pick<NodeRecord, 'name' | 'state' | 'jobCount' | 'finished'>;
const done: MetaTaskEdge = { from: 'a', to: 'b', when: 'done' };
const partial: MetaTaskEdge = { from: 'a', to: 'b', when: 'partial', minFraction: 0.8 };
const nodes = (...list: N[]) => new Map(list.map((n) => [n.name, n]));

describe('nodeReadiness', () => {
  it('waits while a parent runs and is ready once it is done', () => {
    expect(nodeReadiness([done], nodes({ name: 'a', state: 'running' }))).toEqual({ kind: 'wait' });
    expect(nodeReadiness([done], nodes({ name: 'a', state: 'done' }))).toEqual({ kind: 'ready' });
  });

  it('lets a partial parent through a partial edge at or above the fraction only', () => {
    const at = nodes({ name: 'a', state: 'partial', jobCount: 10, finished: 8 });
    const below = nodes({ name: 'a', state: 'partial', jobCount: 10, finished: 7 });
    expect(nodeReadiness([partial], at)).toEqual({ kind: 'ready' });
    expect(nodeReadiness([partial], below)).toMatchObject({ kind: 'skip' });
    expect(nodeReadiness([done], at)).toMatchObject({ kind: 'skip', reason: 'stopped below a (partial)' });
  });

  it('skips below a failed, cancelled or skipped parent', () => {
    for (const state of ['failed', 'cancelled', 'skipped'] as const) {
      expect(nodeReadiness([done], nodes({ name: 'a', state }))).toEqual({
        kind: 'skip',
        reason: `stopped below a (${state})`,
      });
    }
  });
});

describe('planAdvance', () => {
  // a → b, a → c, c → d
  const edges: MetaTaskEdge[] = [
    { from: 'a', to: 'b', when: 'done' },
    { from: 'a', to: 'c', when: 'done' },
    { from: 'c', to: 'd', when: 'done' },
  ];
  const order = ['a', 'b', 'c', 'd'];
  const flags = { paused: false, cancelRequested: false };

  it('starts the roots first', () => {
    const plan = planAdvance(
      order,
      edges,
      order.map((name) => ({ name, state: 'pending' })),
      flags,
    );
    expect(plan).toEqual({ skip: [], start: ['a'] });
  });

  it('stops only the failed node’s descendants; the other branch runs on', () => {
    const plan = planAdvance(
      order,
      edges,
      [
        { name: 'a', state: 'done' },
        { name: 'b', state: 'running' },
        { name: 'c', state: 'failed' },
        { name: 'd', state: 'pending' },
      ],
      flags,
    );
    expect(plan).toEqual({ skip: [{ name: 'd', reason: 'stopped below c (failed)' }], start: [] });
  });

  it('skips transitively and ends partial once every node is final', () => {
    const plan = planAdvance(
      ['a', 'c', 'd', 'e'],
      [...edges, { from: 'd', to: 'e', when: 'done' }],
      [
        { name: 'a', state: 'done' },
        { name: 'c', state: 'failed' },
        { name: 'd', state: 'pending' },
        { name: 'e', state: 'pending' },
      ],
      flags,
    );
    expect(plan.skip.map((s) => s.name)).toEqual(['d', 'e']);
    expect(plan.end).toBe('partial');
  });

  it('starts nothing while paused; a cancel ends it cancelled once nothing runs', () => {
    const pending = order.map((name) => ({ name, state: 'pending' as const }));
    expect(planAdvance(order, edges, pending, { paused: true, cancelRequested: false })).toEqual({
      skip: [],
      start: [],
    });
    expect(
      planAdvance(order, edges, [{ name: 'a', state: 'running' }, ...pending.slice(1)], {
        paused: false,
        cancelRequested: true,
      }).end,
    ).toBeUndefined();
    expect(planAdvance(order, edges, pending, { paused: false, cancelRequested: true }).end).toBe(
      'cancelled',
    );
  });
});

describe('metaTaskEnd', () => {
  it('is done when all are done, failed when none is done or partial, partial otherwise', () => {
    expect(metaTaskEnd(['done', 'done'])).toBe('done');
    expect(metaTaskEnd(['failed', 'skipped'])).toBe('failed');
    expect(metaTaskEnd(['done', 'failed', 'skipped'])).toBe('partial');
    expect(metaTaskEnd(['partial', 'skipped'])).toBe('partial');
  });
});

describe('nodesToRetry', () => {
  it('takes failed and skipped nodes and partial ones that stopped a child, not done ones', () => {
    const edges: MetaTaskEdge[] = [
      { from: 'a', to: 'b', when: 'done' },
      { from: 'b', to: 'c', when: 'done' },
      { from: 'x', to: 'y', when: 'done' },
    ];
    expect(
      nodesToRetry(edges, [
        { name: 'a', state: 'done' },
        { name: 'b', state: 'partial' },
        { name: 'c', state: 'skipped' },
        { name: 'x', state: 'failed' },
        { name: 'y', state: 'skipped' },
      ]),
    ).toEqual(['b', 'c', 'x', 'y']);
  });
});
