/** Tasks page: the token owner's tasks with their jobs by state, refreshed every few seconds. */
import { all } from './api.js';
import { chart, el, formatTime, initPage, needToken, poll, STATE_COLOURS, status, table } from './page.js';
import { progressSegments } from './task-model.js';

const EVERY_MS = 3000;
const STATES = ['finished', 'failed', 'cancelled', 'running', 'queued', 'defined'];

function progressBar(task) {
  const segments = progressSegments(task.counts, STATES);
  const label =
    segments.length === 0 ? 'no jobs yet' : segments.map((s) => `${s.count} ${s.state}`).join(', ');
  return el(
    'div',
    { class: 'bar', role: 'img', 'aria-label': `${task.name}: ${label}` },
    ...segments.map((s) =>
      el('span', {
        style: `width:${s.percent}%;background:${STATE_COLOURS[s.state]}`,
        title: `${s.count} ${s.state}`,
      }),
    ),
  );
}

async function load() {
  if (needToken()) return false;
  const tasks = await all('/tasks', { max: 200 });
  status(tasks.length === 0 ? 'You have no tasks yet.' : '');
  document.getElementById('tasks').replaceChildren(
    table({
      caption: `${tasks.length} tasks, newest first`,
      id: 'tasks-table',
      rowHeader: true,
      columns: [
        'Task',
        'Name',
        'State',
        'Jobs',
        'Finished',
        'Failed',
        'Running',
        'Queued',
        'Progress',
        'Created',
      ],
      rows: tasks.map((t) => [
        el('a', { href: `task.html?taskId=${encodeURIComponent(t.taskId)}` }, t.taskId),
        t.name,
        el('span', { 'data-state': t.state }, t.state),
        t.jobCount,
        t.counts.finished,
        t.counts.failed,
        t.counts.running,
        t.counts.queued + t.counts.defined,
        progressBar(t),
        formatTime(t.createdAt),
      ]),
    }),
  );
  const recent = tasks.slice(0, 20).reverse();
  chart(document.getElementById('progress-chart'), {
    id: 'progress',
    type: 'bar',
    label: `Jobs by state for your ${recent.length} newest tasks (stacked bars; table below)`,
    labels: recent.map((t) => t.name),
    datasets: STATES.map((s) => ({
      label: s,
      data: recent.map((t) => t.counts[s]),
      backgroundColor: STATE_COLOURS[s],
    })),
    options: {
      scales: { x: { stacked: true }, y: { stacked: true, title: { display: true, text: 'jobs' } } },
    },
    tableCaption: 'Jobs by state per task',
    columns: ['Task', ...STATES],
    rows: recent.map((t) => [`${t.name} (${t.taskId})`, ...STATES.map((s) => t.counts[s])]),
  });
  return false;
}

let stop = () => undefined;
const start = () => {
  stop();
  stop = poll(load, EVERY_MS);
};
initPage(start);
start();
