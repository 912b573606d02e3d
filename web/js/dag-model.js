/**
 * The meta-task page's pure parts (unit-tested without a browser): nodes in layers by depth, the
 * drawing's geometry (boxes and edge lines), and the words for a node's job counts and for the
 * graph's text alternative.
 */

/** Meta-task and node states, each with a colour of 4.5:1 contrast or more against white (text and border). */
export const NODE_STATE_COLOURS = {
  pending: '#595959',
  running: '#1f5fbf',
  paused: '#8a5a00',
  done: '#1e7b34',
  partial: '#9a3412',
  failed: '#b3261e',
  cancelled: '#5b4a8a',
  skipped: '#6b4f3a',
};

export const FINAL_META_TASK_STATES = ['done', 'partial', 'failed', 'cancelled'];

/**
 * Each node's depth: 0 for a node without parents, else one more than its deepest parent (the
 * longest path from a root), so every edge points to a later layer. Parents come from `edges`;
 * an edge naming an unknown node is ignored, and a cycle (which the API refuses) cannot loop.
 */
export function depths(nodes, edges) {
  const names = new Set(nodes.map((n) => n.name));
  const parents = new Map(nodes.map((n) => [n.name, []]));
  for (const e of edges) {
    if (names.has(e.from) && names.has(e.to)) parents.get(e.to).push(e.from);
  }
  const depth = new Map();
  const visiting = new Set();
  const visit = (name) => {
    if (depth.has(name)) return depth.get(name);
    if (visiting.has(name)) return 0;
    visiting.add(name);
    const d = Math.max(-1, ...parents.get(name).map(visit)) + 1;
    visiting.delete(name);
    depth.set(name, d);
    return d;
  };
  for (const n of nodes) visit(n.name);
  return depth;
}

/** Node names by layer (depth), each layer in the spec's order. */
export function layers(nodes, edges) {
  const depth = depths(nodes, edges);
  const deepest = Math.max(-1, ...depth.values());
  const result = Array.from({ length: deepest + 1 }, () => []);
  for (const n of nodes) result[depth.get(n.name)].push(n.name);
  return result;
}

/** Nodes in an order where each comes after its parents (layer by layer). */
export function topologicalOrder(nodes, edges) {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  return layers(nodes, edges).flatMap((layer) => layer.map((name) => byName.get(name)));
}

export const BOX = { width: 200, height: 84, gapX: 70, gapY: 24, margin: 12 };

/**
 * Where to draw the graph: layers left to right, the nodes of a layer stacked and centred
 * vertically; each edge a line from the middle of the parent's right side to the middle of the
 * child's left side. Returns `{ width, height, boxes: [{ name, x, y, width, height }], lines:
 * [{ from, to, x1, y1, x2, y2 }] }`.
 */
export function layout(nodes, edges, box = BOX) {
  const columns = layers(nodes, edges);
  const tallest = Math.max(1, ...columns.map((c) => c.length));
  const height = 2 * box.margin + tallest * box.height + (tallest - 1) * box.gapY;
  const width =
    2 * box.margin + Math.max(1, columns.length) * box.width + Math.max(0, columns.length - 1) * box.gapX;
  const boxes = [];
  const at = new Map();
  columns.forEach((column, c) => {
    const columnHeight = column.length * box.height + (column.length - 1) * box.gapY;
    const top = box.margin + (height - 2 * box.margin - columnHeight) / 2;
    column.forEach((name, r) => {
      const b = {
        name,
        x: box.margin + c * (box.width + box.gapX),
        y: top + r * (box.height + box.gapY),
        width: box.width,
        height: box.height,
      };
      boxes.push(b);
      at.set(name, b);
    });
  });
  const lines = edges
    .filter((e) => at.has(e.from) && at.has(e.to))
    .map((e) => {
      const from = at.get(e.from);
      const to = at.get(e.to);
      return {
        from: e.from,
        to: e.to,
        x1: from.x + from.width,
        y1: from.y + from.height / 2,
        x2: to.x,
        y2: to.y + to.height / 2,
      };
    });
  return { width, height, boxes, lines };
}

/** A node's jobs in words: `4/10 finished, 6 running`; `no task yet` before it starts. */
export function countsText(node) {
  if (node.taskId === undefined || node.counts === undefined) return 'no task yet';
  const c = node.counts;
  const total = node.jobCount ?? Object.values(c).reduce((a, b) => a + b, 0);
  const parts = [`${c.finished ?? 0}/${total} finished`];
  for (const s of ['running', 'queued', 'failed', 'cancelled'])
    if ((c[s] ?? 0) > 0) parts.push(`${c[s]} ${s}`);
  return parts.join(', ');
}

/** When an edge lets its child start, in words. */
export function edgeCondition(edge) {
  if (edge.when === 'partial') {
    const fraction =
      edge.minFraction === undefined
        ? ''
        : ` with at least ${Math.round(edge.minFraction * 100)} % of its jobs finished`;
    return `when ${edge.from} is done or partial${fraction}`;
  }
  return `when ${edge.from} is done`;
}

/** The parents of each node, from the edges. */
export function parentsOf(view) {
  const parents = new Map(view.nodes.map((n) => [n.name, []]));
  for (const e of view.edges) parents.get(e.to)?.push(e.from);
  return parents;
}

/**
 * The graph in sentences, for the text alternative: one per node (in topological order) and one
 * per edge. `{ nodes: string[], edges: string[] }`.
 */
export function textAlternative(view) {
  const parents = parentsOf(view);
  const nodes = topologicalOrder(view.nodes, view.edges).map((n) => {
    const from = parents.get(n.name) ?? [];
    const after = from.length === 0 ? 'no parents' : `after ${from.join(', ')}`;
    const task = n.taskId === undefined ? '' : `, task ${n.taskId}`;
    const reason = n.reason === undefined ? '' : ` (${n.reason})`;
    return `${n.name} (${n.type === 'merge' ? 'merge step' : 'task'}): ${n.state}${reason}${task}, ${countsText(n)}; ${after}`;
  });
  const edges = view.edges.map((e) => `${e.from} → ${e.to}, ${edgeCondition(e)}`);
  return { nodes, edges };
}
