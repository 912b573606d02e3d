/** Operator metrics from GET /metrics (admin tokens): one line chart per metric, per-minute sums. */
import { ApiError, api } from './api.js';
import { chart, el, explain, initPage, markLoaded, needToken, status } from './page.js';

async function load() {
  if (needToken()) return;
  const form = document.getElementById('metrics-form');
  const to = new Date();
  const from = new Date(to.getTime() - Number(form.hours.value) * 3_600_000);
  const names = form.names.value.replace(/\s+/g, '');
  const box = document.getElementById('metrics');
  let answer;
  try {
    answer = await api('/metrics', { query: { from: from.toISOString(), to: to.toISOString(), names } });
  } catch (error) {
    box.replaceChildren();
    if (error instanceof ApiError && error.status === 404) {
      status('No metrics yet.', 'info');
    } else if (error instanceof ApiError && error.status === 403) {
      status('Operator metrics need an operator (gluon.admin) token.', 'error');
    } else {
      status(explain(error), 'error');
    }
    return;
  }
  const metrics = answer.metrics;
  status(metrics.length === 0 ? 'No metrics in this window.' : '');
  // Charts are rebuilt: the set of metrics changes with the names asked for.
  box.replaceChildren(
    ...metrics.map((m, i) =>
      el(
        'section',
        { 'aria-labelledby': `metric-${i}-heading` },
        el('h2', { id: `metric-${i}-heading` }, m.name),
        el('div', { id: `metric-${i}` }),
      ),
    ),
  );
  metrics.forEach((m, i) => {
    const total = m.points.reduce((n, p) => n + p.value, 0);
    const labels = m.points.map((p) => new Date(p.t).toLocaleTimeString());
    chart(document.getElementById(`metric-${i}`), {
      id: `metric-${i}-chart`,
      type: 'line',
      label: `${m.name} per minute, ${m.points.length} minutes, total ${total} (table below)`,
      labels,
      datasets: [
        { label: m.name, data: m.points.map((p) => p.value), borderColor: '#1f5fbf', pointRadius: 2 },
      ],
      options: { scales: { y: { beginAtZero: true } } },
      tableCaption: `${m.name} per minute`,
      columns: ['Minute', m.name],
      rows: m.points.map((p, j) => [labels[j], p.value]),
    });
  });
}

document.getElementById('metrics-form').addEventListener('submit', (event) => {
  event.preventDefault();
  void load().finally(markLoaded);
});
initPage(load);
void load().finally(markLoaded);
