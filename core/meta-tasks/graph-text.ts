import type { MetaTaskView } from '../api/meta-tasks.ts';

/** `4/10 finished, 6 running`: a node's job counts in words (non-zero ones only). */
function countsText(node: MetaTaskView['nodes'][number]): string {
  if (node.counts === undefined || node.jobCount === undefined) return '';
  const parts = [`${node.counts.finished}/${node.jobCount} finished`];
  for (const state of ['running', 'queued', 'failed', 'cancelled'] as const) {
    const n = node.counts[state];
    if (n > 0) parts.push(`${n} ${state}`);
  }
  return parts.join(', ');
}

/**
 * The meta-task's graph as text (`gluon dag status`): a header, then one line per node in
 * topological order, indented below its first parent, with its state, task id and job counts,
 * and its parents (with a partial edge's fraction).
 */
export function renderGraph(view: MetaTaskView): string {
  const depth = new Map<string, number>();
  for (const node of view.nodes) {
    const first = node.parents[0];
    depth.set(node.name, first === undefined ? 0 : (depth.get(first) ?? 0) + 1);
  }
  const label = (node: MetaTaskView['nodes'][number]) => {
    const d = depth.get(node.name) ?? 0;
    return d === 0 ? node.name : `${'   '.repeat(d - 1)}└─ ${node.name}`;
  };
  const width = Math.max(...view.nodes.map((n) => label(n).length));
  const stateWidth = Math.max(...view.nodes.map((n) => n.state.length));
  const lines = [`${view.name}  ${view.metaTaskId}  ${view.state}${view.reason ? `  (${view.reason})` : ''}`];
  for (const node of view.nodes) {
    const parents = node.parents.map((p) => {
      const edge = view.edges.find((e) => e.from === p && e.to === node.name);
      return edge?.when === 'partial' ? `${p} (partial ≥ ${edge.minFraction})` : p;
    });
    const cells = [
      label(node).padEnd(width),
      node.state.padEnd(stateWidth),
      node.taskId ?? '',
      countsText(node),
    ].filter((c, i) => i < 2 || c !== '');
    let line = `  ${cells.join('  ')}`;
    if (parents.length > 0) line += `  ← ${parents.join(', ')}`;
    if (node.reason !== undefined && node.state !== 'running') line += `  (${node.reason})`;
    lines.push(line.trimEnd());
  }
  return lines.join('\n');
}
