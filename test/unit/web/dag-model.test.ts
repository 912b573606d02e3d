import { describe, expect, it } from 'vitest';
import {
  countsText,
  depths,
  type EdgeLike,
  edgeCondition,
  layers,
  layout,
  NODE_STATE_COLOURS,
  type NodeLike,
  textAlternative,
  topologicalOrder,
} from '../../../web/js/dag-model.js';

const node = (name: string, extra: Partial<NodeLike> = {}): NodeLike => ({
  name,
  state: 'pending',
  ...extra,
});
const COUNTS = { defined: 0, queued: 2, running: 3, finished: 4, failed: 1, cancelled: 0 };

/** a → b, a → c, b → d, c → d, a → d (a diamond with a shortcut), e alone; listed out of order. */
const NODES = ['d', 'b', 'a', 'e', 'c'].map((n) => node(n));
const EDGES: EdgeLike[] = [
  { from: 'a', to: 'b' },
  { from: 'a', to: 'c' },
  { from: 'b', to: 'd' },
  { from: 'c', to: 'd', when: 'partial', minFraction: 0.8 },
  { from: 'a', to: 'd' },
];

describe('layers', () => {
  it('puts each node one layer after its deepest parent, in the spec order within a layer', () => {
    expect(Object.fromEntries(depths(NODES, EDGES))).toEqual({ a: 0, b: 1, c: 1, d: 2, e: 0 });
    expect(layers(NODES, EDGES)).toEqual([['a', 'e'], ['b', 'c'], ['d']]);
  });

  it('makes a chain one node per layer and a bag one layer', () => {
    const chain = ['gen', 'reco', 'merge', 'hist'].map((n) => node(n));
    const edges = [
      { from: 'gen', to: 'reco' },
      { from: 'reco', to: 'merge' },
      { from: 'merge', to: 'hist' },
    ];
    expect(layers(chain, edges)).toEqual([['gen'], ['reco'], ['merge'], ['hist']]);
    expect(layers(chain, [])).toEqual([['gen', 'reco', 'merge', 'hist']]);
  });

  it('orders nodes parents first', () => {
    const order = topologicalOrder(NODES, EDGES).map((n) => n.name);
    for (const e of EDGES) expect(order.indexOf(e.from)).toBeLessThan(order.indexOf(e.to));
  });

  it('ignores an edge to an unknown node and does not loop on a cycle', () => {
    expect(layers([node('a')], [{ from: 'a', to: 'zz' }])).toEqual([['a']]);
    const cyclic = layers(
      [node('a'), node('b')],
      [
        { from: 'a', to: 'b' },
        { from: 'b', to: 'a' },
      ],
    );
    expect(cyclic.flat().sort()).toEqual(['a', 'b']);
  });
});

describe('layout', () => {
  it('draws one box per node and one line per edge, each line from its parent’s right side to its child’s left side', () => {
    const { boxes, lines, width, height } = layout(NODES, EDGES);
    expect(boxes.map((b) => b.name).sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(lines).toHaveLength(EDGES.length);
    const at = new Map(boxes.map((b) => [b.name, b]));
    for (const l of lines) {
      const from = at.get(l.from);
      const to = at.get(l.to);
      expect(l.x1).toBe((from?.x ?? 0) + (from?.width ?? 0));
      expect(l.y1).toBe((from?.y ?? 0) + (from?.height ?? 0) / 2);
      expect(l.x2).toBe(to?.x);
      expect(l.x2).toBeGreaterThan(l.x1);
    }
    for (const b of boxes) {
      expect(b.x).toBeGreaterThanOrEqual(0);
      expect(b.y).toBeGreaterThanOrEqual(0);
      expect(b.x + b.width).toBeLessThanOrEqual(width);
      expect(b.y + b.height).toBeLessThanOrEqual(height);
    }
  });

  it('never overlaps two boxes', () => {
    const { boxes } = layout(NODES, EDGES);
    for (const p of boxes) {
      for (const q of boxes) {
        if (p === q) continue;
        const apart =
          p.x + p.width <= q.x || q.x + q.width <= p.x || p.y + p.height <= q.y || q.y + q.height <= p.y;
        expect(apart, `${p.name} and ${q.name}`).toBe(true);
      }
    }
  });

  it('draws an empty graph as an empty drawing', () => {
    expect(layout([], [])).toMatchObject({ boxes: [], lines: [] });
  });
});

describe('words', () => {
  it('says a node’s jobs: finished of all, then the running, queued, failed ones', () => {
    expect(countsText(node('a', { taskId: 't-1', jobCount: 10, counts: COUNTS }))).toBe(
      '4/10 finished, 3 running, 2 queued, 1 failed',
    );
    expect(
      countsText(node('a', { taskId: 't-1', counts: { ...COUNTS, queued: 0, running: 0, failed: 0 } })),
    ).toBe('4/4 finished');
    expect(countsText(node('a'))).toBe('no task yet');
  });

  it('says when an edge lets its child start', () => {
    expect(edgeCondition({ from: 'gen', to: 'reco' })).toBe('when gen is done');
    expect(edgeCondition({ from: 'reco', to: 'merge', when: 'partial', minFraction: 0.8 })).toBe(
      'when reco is done or partial with at least 80 % of its jobs finished',
    );
  });

  it('describes every node (parents first, with state, task and parents) and every edge', () => {
    const view = {
      nodes: [
        node('merge', { type: 'merge', state: 'skipped', reason: 'stopped below reco' }),
        node('reco', { state: 'failed', taskId: 't-2', jobCount: 10, counts: COUNTS }),
        node('gen', {
          state: 'done',
          taskId: 't-1',
          jobCount: 4,
          counts: { ...COUNTS, finished: 4, queued: 0, running: 0, failed: 0 },
        }),
      ],
      edges: [
        { from: 'gen', to: 'reco' },
        { from: 'reco', to: 'merge' },
      ],
    };
    expect(textAlternative(view)).toEqual({
      nodes: [
        'gen (task): done, task t-1, 4/4 finished; no parents',
        'reco (task): failed, task t-2, 4/10 finished, 3 running, 2 queued, 1 failed; after gen',
        'merge (merge step): skipped (stopped below reco), no task yet; after reco',
      ],
      edges: ['gen → reco, when gen is done', 'reco → merge, when reco is done'],
    });
  });

  it('has a colour with at least 4.5:1 contrast against white for every node state', () => {
    const luminance = (hex: string): number => {
      const [r, g, b] = [1, 3, 5].map((i) => {
        const c = Number.parseInt(hex.slice(i, i + 2), 16) / 255;
        return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
      }) as [number, number, number];
      return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const states = ['pending', 'running', 'paused', 'done', 'partial', 'failed', 'cancelled', 'skipped'];
    for (const s of states) {
      const colour = NODE_STATE_COLOURS[s] as string;
      expect(colour, s).toMatch(/^#[0-9a-f]{6}$/);
      expect(1.05 / (luminance(colour) + 0.05), s).toBeGreaterThanOrEqual(4.5);
    }
    expect(new Set(states.map((s) => NODE_STATE_COLOURS[s])).size).toBe(states.length);
  });
});
