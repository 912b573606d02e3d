/**
 * Accounting plots from GET /accounting (one row per day and user, group or site): core hours per
 * day by key, finished and failed attempts per day, and the rows themselves.
 */
import { ApiError, api } from './api.js';
import { chart, explain, initPage, markLoaded, needToken, status, table } from './page.js';

const PALETTE = ['#1f5fbf', '#8a5a00', '#1e7b34', '#b3261e', '#5b4a8a', '#006d77', '#6b6b6b'];

function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

async function load() {
  if (needToken()) return;
  const form = document.getElementById('accounting-form');
  const by = form.by.value;
  const query = { by, from: form.from.value, to: form.to.value };
  let answer;
  try {
    answer = await api('/accounting', { query });
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      status('No accounting yet.', 'info');
      for (const id of ['core-chart', 'outcome-chart', 'rows']) document.getElementById(id).replaceChildren();
      return;
    }
    status(explain(error), 'error');
    return;
  }
  const rows = answer.rows;
  status(rows.length === 0 ? `No usage from ${answer.from} to ${answer.to}.` : '');
  const days = [...new Set(rows.map((r) => r.day))].sort();
  const keys = [...new Set(rows.map((r) => r.key))].sort();
  const cell = (day, key, field) => rows.find((r) => r.day === day && r.key === key)?.[field] ?? 0;
  chart(document.getElementById('core-chart'), {
    id: 'core-hours',
    type: 'bar',
    label: `Core hours per day by ${by}, ${answer.from} to ${answer.to} (table below)`,
    labels: days,
    datasets: keys.map((key, i) => ({
      label: key,
      data: days.map((d) => cell(d, key, 'coreSec') / 3600),
      backgroundColor: PALETTE[i % PALETTE.length],
    })),
    options: {
      scales: { x: { stacked: true }, y: { stacked: true, title: { display: true, text: 'core hours' } } },
    },
    tableCaption: `Core hours per day by ${by}`,
    columns: ['Day', ...keys],
    rows: days.map((d) => [d, ...keys.map((k) => (cell(d, k, 'coreSec') / 3600).toFixed(3))]),
  });
  const perDay = (field) =>
    days.map((d) => rows.filter((r) => r.day === d).reduce((n, r) => n + r[field], 0));
  const finished = perDay('finished');
  const failed = perDay('failed');
  chart(document.getElementById('outcome-chart'), {
    id: 'outcomes',
    type: 'bar',
    label: `Finished and failed attempts per day, ${answer.from} to ${answer.to} (table below)`,
    labels: days,
    datasets: [
      { label: 'finished', data: finished, backgroundColor: '#1e7b34' },
      { label: 'failed', data: failed, backgroundColor: '#b3261e' },
    ],
    options: { scales: { y: { beginAtZero: true, title: { display: true, text: 'attempts' } } } },
    tableCaption: 'Attempts per day',
    columns: ['Day', 'Finished', 'Failed'],
    rows: days.map((d, i) => [d, finished[i], failed[i]]),
  });
  document.getElementById('rows').replaceChildren(
    table({
      caption: `${rows.length} rows by day and ${by}`,
      id: 'accounting-table',
      columns: [
        'Day',
        by,
        'Attempts',
        'Finished',
        'Failed',
        'Core hours',
        'Wall hours',
        'CPU hours',
        'HS23 hours',
        'Max RSS (MB)',
      ],
      rows: rows.map((r) => [
        r.day,
        r.key,
        r.attempts,
        r.finished,
        r.failed,
        (r.coreSec / 3600).toFixed(3),
        (r.wallSec / 3600).toFixed(3),
        (r.cpuSec / 3600).toFixed(3),
        r.hs23Sec === undefined ? '' : (r.hs23Sec / 3600).toFixed(3),
        r.maxRssMB,
      ]),
    }),
  );
}

const form = document.getElementById('accounting-form');
const today = new Date();
form.to.value = isoDay(today);
form.from.value = isoDay(new Date(today.getTime() - 13 * 86_400_000));
form.addEventListener('submit', (event) => {
  event.preventDefault();
  void load().finally(markLoaded);
});
initPage(load);
void load().finally(markLoaded);
