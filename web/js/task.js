/**
 * One task: state and counts, jobs by state over time, event-range progress, the merged histogram
 * of its outputs (the Z→μμ example's), failures by error code, requested-against-used histograms,
 * and its jobs with links to their logs and outputs. Refreshed every few seconds until it ends.
 */
import { ApiError, all, api, mapLimit } from './api.js';
import {
  chart,
  el,
  explain,
  formatSeconds,
  formatTime,
  initPage,
  needToken,
  poll,
  STATE_COLOURS,
  status,
  table,
} from './page.js';
import {
  failuresByCode,
  isHistogram,
  requestedVsUsed,
  statesOverTime,
  sumHistograms,
  TIMELINE_STATES,
  usageOf,
} from './task-model.js';

const EVERY_MS = 3000;
const FINAL = ['done', 'partial', 'failed', 'cancelled'];
const JOB_ROWS = 500;
/** Attempts are fetched for retried jobs only (one request each), so for at most this many. */
const MAX_ATTEMPT_FETCHES = 300;
const HISTOGRAM_NAME = /^histogram.*\.json$/;

const taskId = new URLSearchParams(location.search).get('taskId') ?? '';
const base = `/tasks/${encodeURIComponent(taskId)}`;
/** Attempts of jobs that ended, by job index: they no longer change. */
const attemptsCache = new Map();
let histogramShown = false;

function openLink(params, text, label) {
  return el(
    'a',
    { href: `open.html?${new URLSearchParams({ taskId, ...params })}`, 'aria-label': label },
    text,
  );
}

async function withAttempts(jobs) {
  const retried = jobs.filter((j) => j.attempt > 1).slice(0, MAX_ATTEMPT_FETCHES);
  const fetched = await mapLimit(retried, 6, async (job) => {
    const cached = attemptsCache.get(job.jobIndex);
    if (cached !== undefined) return cached;
    const full = await api(`${base}/jobs/${job.jobIndex}`);
    if (['finished', 'failed', 'cancelled'].includes(full.state))
      attemptsCache.set(job.jobIndex, full.attempts);
    return full.attempts;
  });
  const byIndex = new Map(retried.map((j, i) => [j.jobIndex, fetched[i]]));
  return jobs.map((j) => (byIndex.has(j.jobIndex) ? { ...j, attempts: byIndex.get(j.jobIndex) } : j));
}

function renderSummary(task) {
  document.getElementById('task-title').textContent = `Task ${task.name}`;
  document.title = `${task.name} · Gluon`;
  const rows = [
    ['Task', task.taskId],
    ['State', el('span', { id: 'task-state', 'data-state': task.state }, task.state)],
    ['Owner', task.owner],
    ['Jobs', task.jobCount],
    ...['finished', 'failed', 'cancelled', 'running', 'queued', 'defined'].map((s) => [
      `Jobs ${s}`,
      task.counts[s],
    ]),
    ['Sites', task.siteIds.join(', ')],
    ['Created', formatTime(task.createdAt)],
    ...(task.endedAt === undefined ? [] : [['Ended', formatTime(task.endedAt)]]),
    ...(task.reason === undefined ? [] : [['Reason', task.reason]]),
  ];
  document
    .getElementById('summary')
    .replaceChildren(
      el('dl', { class: 'summary' }, ...rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)])),
    );
}

function renderTimeline(task, jobs) {
  const from = Date.parse(task.createdAt);
  const to = task.endedAt === undefined ? Date.now() : Date.parse(task.endedAt) + 1;
  const waiting = Math.max(0, task.jobCount - jobs.length);
  const { times, series } = statesOverTime(jobs, task.createdAt, from, to, 40, waiting);
  const labels = times.map((t) => `${Math.round((t - from) / 1000)} s`);
  const last = times.length - 1;
  chart(document.getElementById('timeline'), {
    id: 'timeline-chart',
    type: 'line',
    label: `Jobs by state over the task's life; at the end: ${TIMELINE_STATES.map((s) => `${series[s][last]} ${s}`).join(', ')} (table below)`,
    labels,
    datasets: TIMELINE_STATES.map((s, i) => ({
      label: s,
      data: series[s],
      borderColor: STATE_COLOURS[s],
      backgroundColor: `${STATE_COLOURS[s]}55`,
      // Stacked areas: each fills down to the one below it.
      fill: i === 0 ? 'origin' : '-1',
      pointRadius: 0,
    })),
    options: {
      scales: {
        x: { title: { display: true, text: 'time since submission' } },
        y: { stacked: true, beginAtZero: true, title: { display: true, text: 'jobs' } },
      },
    },
    tableCaption: 'Jobs by state over time',
    columns: ['Time since submission', ...TIMELINE_STATES],
    rows: times.map((_, i) => [labels[i], ...TIMELINE_STATES.map((s) => series[s][i])]),
  });
}

function renderRanges(task) {
  if (task.ranges === undefined) return;
  document.getElementById('ranges-section').hidden = false;
  const r = task.ranges;
  const states = ['ready', 'running', 'finished', 'failed', 'fatal'];
  const percent = r.events === 0 ? 0 : (100 * r.eventsFinished) / r.events;
  const container = document.getElementById('ranges');
  container.replaceChildren(
    el(
      'p',
      {},
      el('label', { for: 'events-progress' }, 'Events processed '),
      el('progress', { id: 'events-progress', max: r.events, value: r.eventsFinished }),
      ` ${r.eventsFinished} of ${r.events} events (${percent.toFixed(1)} %), ${r.total} ranges`,
    ),
    el('div', { id: 'ranges-chart-box' }),
  );
  chart(document.getElementById('ranges-chart-box'), {
    id: 'ranges-chart',
    type: 'bar',
    label: `Event ranges by state: ${states.map((s) => `${r[s]} ${s}`).join(', ')}`,
    labels: states,
    datasets: [{ label: 'ranges', data: states.map((s) => r[s]), backgroundColor: '#1f5fbf' }],
    tableCaption: 'Event ranges by state',
    columns: ['State', 'Ranges'],
    rows: states.map((s) => [s, r[s]]),
  });
}

function renderFailures(jobs) {
  const groups = failuresByCode(jobs);
  const container = document.getElementById('failures');
  if (groups.length === 0) {
    container.replaceChildren(el('p', { id: 'no-failures' }, 'No failed attempts.'));
    return;
  }
  container.replaceChildren(
    table({
      caption: `${groups.reduce((n, g) => n + g.count, 0)} failed attempts by pilot error code`,
      id: 'failures-table',
      rowHeader: true,
      columns: ['Error code', 'Failed attempts', 'Examples'],
      rows: groups.map((g) => [
        String(g.code),
        String(g.count),
        el(
          'ul',
          {},
          ...g.examples.map((x) =>
            el(
              'li',
              {},
              openLink(
                { index: String(x.jobIndex), attempt: String(x.attempt) },
                `job ${x.jobIndex} attempt ${x.attempt}`,
                `log of job ${x.jobIndex} attempt ${x.attempt}`,
              ),
              x.message === ''
                ? ''
                : `: ${x.message.length > 160 ? `${x.message.slice(0, 160)}…` : x.message}`,
            ),
          ),
        ),
      ]),
    }),
  );
}

function renderUsage(task, jobs) {
  const { wall, memory } = usageOf(jobs, task.spec.resources);
  for (const [id, pairs, unit, what] of [
    ['walltime', wall, 's', 'Wall time'],
    ['memory', memory, 'MB', 'Memory (max RSS)'],
  ]) {
    const h = requestedVsUsed(pairs, 20);
    const labels = h.used.map((_, i) => `${h.edges[i].toFixed(1)}–${h.edges[i + 1].toFixed(1)} ${unit}`);
    chart(document.getElementById(id), {
      id: `${id}-chart`,
      type: 'bar',
      label: `${what} of ${pairs.length} finished attempts: used against requested, in ${unit} (table below)`,
      labels,
      datasets: [
        { label: 'used', data: h.used, backgroundColor: '#1e7b34' },
        { label: 'requested', data: h.requested, backgroundColor: '#8a5a00' },
      ],
      options: {
        scales: {
          x: { title: { display: true, text: `${what} (${unit})` } },
          y: { beginAtZero: true, title: { display: true, text: 'attempts' } },
        },
      },
      tableCaption: `${what}: attempts per bin, used and requested`,
      columns: [`${what} (${unit})`, 'Used', 'Requested'],
      rows: labels.map((l, i) => [l, h.used[i], h.requested[i]]),
    });
  }
}

function renderJobs(jobs) {
  const shown = jobs.slice(0, JOB_ROWS);
  document.getElementById('jobs').replaceChildren(
    table({
      caption:
        jobs.length > JOB_ROWS ? `The first ${JOB_ROWS} of ${jobs.length} jobs` : `${jobs.length} jobs`,
      id: 'jobs-table',
      rowHeader: true,
      columns: ['Job', 'State', 'Attempt', 'Site', 'Exit', 'Error code', 'Wall time', 'Log', 'Outputs'],
      rows: shown.map((j) => [
        String(j.jobIndex),
        j.state,
        String(j.attempt),
        j.siteId ?? '',
        j.exitCode === undefined ? '' : String(j.exitCode),
        j.pilotErrorCode === undefined ? '' : String(j.pilotErrorCode),
        formatSeconds(j.usage?.wallTimeSec),
        j.log === undefined
          ? ''
          : openLink(
              { index: String(j.jobIndex), attempt: String(j.attempt) },
              'log',
              `log of job ${j.jobIndex}`,
            ),
        el(
          'span',
          {},
          ...(j.outputs ?? []).flatMap((o, i) => [
            i === 0 ? '' : ', ',
            openLink({ index: String(j.jobIndex), output: o.name }, o.name, `${o.name} of job ${j.jobIndex}`),
          ]),
        ),
      ]),
    }),
  );
}

/**
 * The task's histogram outputs (histogram*.json, as the Z→μμ example writes them), downloaded
 * through their presigned URLs and added up: each job's part, or an event-service task's merged one.
 */
async function renderHistogram(task) {
  if (!task.spec.outputs?.some((name) => HISTOGRAM_NAME.test(name))) return true;
  const { outputs } = await api(`${base}/outputs`);
  const wanted = outputs.filter((o) => HISTOGRAM_NAME.test(o.name));
  if (wanted.length === 0) return true;
  const parts = await mapLimit(wanted, 6, async (o) => {
    const { url } = await api(`${base}/jobs/${o.index}/outputs/${encodeURIComponent(o.name)}`);
    const res = await fetch(url);
    if (!res.ok) throw new Error(`${o.name} of job ${o.index}: HTTP ${res.status}`);
    return res.json();
  });
  const histograms = parts.filter(isHistogram);
  if (histograms.length === 0) return true;
  const h = sumHistograms(histograms);
  const width = (h.high - h.low) / h.bins;
  const labels = h.counts.map((_, i) => (h.low + (i + 0.5) * width).toFixed(1));
  document.getElementById('histogram-section').hidden = false;
  const box = document.getElementById('histogram');
  box.replaceChildren(
    el(
      'p',
      {},
      'Entries: ',
      el('span', { id: 'histogram-entries' }, String(h.entries)),
      ` in ${h.bins} bins from ${h.low} to ${h.high}, added from ${h.parts} output file(s).`,
    ),
    el('div', { id: 'histogram-chart-box' }),
  );
  chart(document.getElementById('histogram-chart-box'), {
    id: 'histogram-chart',
    type: 'bar',
    label: `Merged histogram of ${h.entries} entries, ${h.bins} bins from ${h.low} to ${h.high} (table below)`,
    labels,
    datasets: [
      {
        label: 'entries',
        data: h.counts,
        backgroundColor: '#1f5fbf',
        barPercentage: 1,
        categoryPercentage: 1,
      },
    ],
    options: {
      scales: {
        x: { title: { display: true, text: 'bin centre' } },
        y: { beginAtZero: true, title: { display: true, text: 'entries' } },
      },
    },
    tableCaption: 'Merged histogram: entries per bin',
    columns: ['Bin', 'Entries'],
    rows: h.counts.map((c, i) => [
      `${(h.low + i * width).toFixed(2)}–${(h.low + (i + 1) * width).toFixed(2)}`,
      c,
    ]),
  });
  return true;
}

async function load() {
  if (needToken()) return false;
  let task;
  try {
    task = await api(base);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      status(`No task ${taskId} for this token.`, 'error');
      return true;
    }
    throw error;
  }
  const jobs = await withAttempts(await all(`${base}/jobs`, { max: 5000 }));
  jobs.sort((a, b) => a.jobIndex - b.jobIndex);
  status('');
  renderSummary(task);
  renderTimeline(task, jobs);
  renderRanges(task);
  renderFailures(jobs);
  renderUsage(task, jobs);
  renderJobs(jobs);
  const ended = FINAL.includes(task.state);
  if (ended && !histogramShown) {
    try {
      histogramShown = await renderHistogram(task);
    } catch (error) {
      status(`The histogram could not be drawn: ${explain(error)}`, 'error');
    }
  }
  return ended && histogramShown;
}

let stop = () => undefined;
const start = () => {
  stop();
  stop = poll(load, EVERY_MS);
};
initPage(start);
if (taskId === '') status('No task given: open a task from the Tasks page.', 'error');
else start();
