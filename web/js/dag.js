/**
 * One meta-task: its graph (nodes in layers by depth, edges as arrows; each node a box with its
 * name, type, state and job counts, linking to its task's page), the same graph as text for
 * screen readers (the drawing's description), and its nodes as a table. Refreshed every few
 * seconds until the meta-task ends.
 */
import { ApiError, api } from './api.js';
import {
  countsText,
  edgeCondition,
  FINAL_META_TASK_STATES,
  layout,
  NODE_STATE_COLOURS,
  parentsOf,
  textAlternative,
  topologicalOrder,
} from './dag-model.js';
import { el, formatTime, initPage, needToken, poll, status, table } from './page.js';

const EVERY_MS = 3000;
const SVG_NS = 'http://www.w3.org/2000/svg';

const metaTaskId = new URLSearchParams(location.search).get('id') ?? '';

/** An SVG element: `svg('line', { x1, y1 }, child…)`. */
function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== undefined) node.setAttribute(name, String(value));
  }
  node.append(...children.filter((c) => c !== undefined).map((c) => (c instanceof Node ? c : String(c))));
  return node;
}

function taskHref(node) {
  return `task.html?taskId=${encodeURIComponent(node.taskId)}`;
}

function nodeLabel(node) {
  return `${node.name}, ${node.type === 'merge' ? 'merge step' : 'task'}: ${node.state}, ${countsText(node)}`;
}

/** One node's box; a link to its task's page once it has a task. */
function nodeBox(node, box) {
  const colour = NODE_STATE_COLOURS[node.state] ?? '#1a1a1a';
  const x = box.x + 10;
  const group = svg(
    'g',
    { class: 'dag-node', 'data-node': node.name, 'data-state': node.state },
    svg('rect', {
      x: box.x,
      y: box.y,
      width: box.width,
      height: box.height,
      rx: 6,
      fill: '#ffffff',
      stroke: colour,
      'stroke-width': 3,
      ...(node.state === 'skipped' || node.state === 'pending' ? { 'stroke-dasharray': '6 4' } : {}),
    }),
    svg('text', { x, y: box.y + 22, class: 'dag-name' }, node.name),
    svg(
      'text',
      { x: box.x + box.width - 10, y: box.y + 22, 'text-anchor': 'end', class: 'dag-type' },
      node.type === 'merge' ? 'merge' : 'task',
    ),
    svg('text', { x, y: box.y + 46, style: `fill:${colour}`, class: 'dag-state' }, node.state),
    svg('text', { x, y: box.y + 68, class: 'dag-counts' }, countsText(node)),
  );
  if (node.taskId === undefined) {
    // Not focusable, but still named for anyone who reaches it.
    group.setAttribute('role', 'img');
    group.setAttribute('aria-label', nodeLabel(node));
    return group;
  }
  // The link is named by the box's own words (what it shows is what it is called).
  return svg('a', { href: taskHref(node) }, group);
}

function renderGraph(view) {
  const { width, height, boxes, lines } = layout(view.nodes, view.edges);
  const byName = new Map(view.nodes.map((n) => [n.name, n]));
  const drawing = svg(
    'svg',
    {
      id: 'dag-svg',
      role: 'group',
      'aria-label': `Graph of meta-task ${view.name}: ${view.nodes.length} nodes, ${view.edges.length} edges`,
      'aria-describedby': 'dag-text',
      viewBox: `0 0 ${width} ${height}`,
      width,
      height,
    },
    svg(
      'defs',
      {},
      svg(
        'marker',
        {
          id: 'arrow',
          viewBox: '0 0 10 10',
          refX: 10,
          refY: 5,
          markerWidth: 8,
          markerHeight: 8,
          orient: 'auto-start-reverse',
        },
        svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', fill: '#4a4a4a' }),
      ),
    ),
    svg(
      'g',
      { 'aria-hidden': 'true' },
      ...lines.map((l) => {
        const edge = view.edges.find((e) => e.from === l.from && e.to === l.to);
        return svg('line', {
          class: 'dag-edge',
          'data-from': l.from,
          'data-to': l.to,
          x1: l.x1,
          y1: l.y1,
          x2: l.x2 - 2,
          y2: l.y2,
          stroke: '#4a4a4a',
          'stroke-width': 2,
          ...(edge?.when === 'partial' ? { 'stroke-dasharray': '5 3' } : {}),
          'marker-end': 'url(#arrow)',
        });
      }),
    ),
    ...boxes.map((b) => nodeBox(byName.get(b.name), b)),
  );
  document.getElementById('graph').replaceChildren(el('div', { class: 'dag-scroll' }, drawing));

  const text = textAlternative(view);
  document
    .getElementById('dag-text')
    .replaceChildren(
      el('h3', {}, 'Nodes, parents first'),
      el('ul', { id: 'dag-text-nodes' }, ...text.nodes.map((t) => el('li', {}, t))),
      el('h3', {}, 'Edges'),
      text.edges.length === 0
        ? el('p', {}, 'No edges: the nodes run independently.')
        : el('ul', { id: 'dag-text-edges' }, ...text.edges.map((t) => el('li', {}, t))),
    );
}

function renderSummary(view) {
  document.getElementById('dag-title').textContent = `Meta-task ${view.name}`;
  document.title = `${view.name} · Gluon`;
  const rows = [
    ['Meta-task', view.metaTaskId],
    ['State', el('span', { id: 'dag-state', 'data-state': view.state }, view.state)],
    ['Shape', view.shape],
    ['Owner', view.owner],
    ['Nodes', view.nodes.length],
    ['Created', formatTime(view.createdAt)],
    ...(view.endedAt === undefined ? [] : [['Ended', formatTime(view.endedAt)]]),
  ];
  document
    .getElementById('summary')
    .replaceChildren(
      el('dl', { class: 'summary' }, ...rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)])),
    );
}

function renderNodes(view) {
  const parents = parentsOf(view);
  const incoming = (name) =>
    view.edges
      .filter((e) => e.to === name)
      .map(edgeCondition)
      .join('; ');
  document.getElementById('nodes').replaceChildren(
    table({
      caption: `${view.nodes.length} nodes, parents first`,
      id: 'nodes-table',
      rowHeader: true,
      columns: [
        'Node',
        'Type',
        'State',
        'Task',
        'Jobs',
        'Parents',
        'Starts',
        'Output dataset',
        'Earlier tasks',
      ],
      rows: topologicalOrder(view.nodes, view.edges).map((n) => [
        n.name,
        n.type === 'merge' ? 'merge step' : 'task',
        el(
          'span',
          { 'data-state': n.state },
          n.state,
          n.reason === undefined ? undefined : el('span', { class: 'muted' }, ` (${n.reason})`),
        ),
        n.taskId === undefined ? '' : el('a', { href: taskHref(n) }, n.taskId),
        countsText(n),
        (parents.get(n.name) ?? []).join(', '),
        incoming(n.name) || 'at once',
        n.outputDataset ?? '',
        (n.history ?? []).map((h) => `${h.taskId} (${h.state})`).join(', '),
      ]),
    }),
  );
}

async function load() {
  if (needToken()) return false;
  let view;
  try {
    view = await api(`/meta-tasks/${encodeURIComponent(metaTaskId)}`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      status(`No meta-task ${metaTaskId} for this token.`, 'error');
      return true;
    }
    throw error;
  }
  status('');
  renderSummary(view);
  renderGraph(view);
  renderNodes(view);
  return FINAL_META_TASK_STATES.includes(view.state);
}

let stop = () => undefined;
const start = () => {
  stop();
  stop = poll(load, EVERY_MS);
};
initPage(start);
if (metaTaskId === '') status('No meta-task given: open one from the Meta-tasks page.', 'error');
else start();
