/**
 * What every page shares: the header (skip link target, navigation, token field), status
 * messages, tables with headers, and charts with an aria-label and a data table beside them.
 */
import { ApiError, adoptTokenFromHash, getToken, setToken } from './api.js';

const PAGES = [
  ['index.html', 'Tasks'],
  ['dags.html', 'Meta-tasks'],
  ['sites.html', 'Sites and pilots'],
  ['accounting.html', 'Accounting'],
  ['metrics.html', 'Operator metrics'],
];

/** Builds the header and wires the token field; `onToken` runs after the token changes. */
export function initPage(onToken) {
  adoptTokenFromHash();
  const header = document.getElementById('site-header');
  const here = location.pathname.split('/').pop() || 'index.html';
  header.replaceChildren(
    el('a', { class: 'skip-link', href: '#main' }, 'Skip to content'),
    el('span', { class: 'brand' }, 'Gluon monitor'),
    el(
      'nav',
      { 'aria-label': 'Pages' },
      el(
        'ul',
        {},
        ...PAGES.map(([href, label]) =>
          el('li', {}, el('a', { href, ...(href === here ? { 'aria-current': 'page' } : {}) }, label)),
        ),
      ),
    ),
    tokenForm(onToken),
  );
}

function tokenForm(onToken) {
  const input = el('input', {
    id: 'token',
    name: 'token',
    type: 'password',
    autocomplete: 'off',
    value: getToken(),
  });
  const form = el(
    'form',
    { class: 'token-form', 'aria-label': 'API token' },
    el('label', { for: 'token' }, 'API token'),
    input,
    el('button', { type: 'submit' }, 'Use token'),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    setToken(input.value);
    onToken?.();
  });
  return form;
}

/** A DOM element: `el('a', { href }, 'text', child…)`. */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    if (name === 'value') node.value = value;
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  node.append(
    ...children.filter((c) => c !== undefined && c !== null).map((c) => (c instanceof Node ? c : String(c))),
  );
  return node;
}

/** A table with a caption, column headers and (optionally) a row header in the first cell. */
export function table({ caption, columns, rows, id, rowHeader = false }) {
  return el(
    'table',
    { ...(id === undefined ? {} : { id }) },
    el('caption', {}, caption),
    el('thead', {}, el('tr', {}, ...columns.map((c) => el('th', { scope: 'col' }, c)))),
    el(
      'tbody',
      {},
      ...rows.map((cells) =>
        el(
          'tr',
          {},
          ...cells.map((c, i) => (rowHeader && i === 0 ? el('th', { scope: 'row' }, c) : el('td', {}, c))),
        ),
      ),
    ),
  );
}

/** Shows a message in the page's status region (announced to screen readers). */
export function status(text, kind = 'info') {
  const region = document.getElementById('status');
  region.className = `status ${kind}`;
  region.textContent = text;
}

/** What to tell the user for a failed request. */
export function explain(error) {
  if (error instanceof ApiError) {
    if (error.status === 401) return 'The API did not accept the token: enter a valid token above.';
    if (error.status === 403) return `This token may not do that (${error.message}).`;
    return `${error.code}: ${error.message}`;
  }
  return String(error?.message ?? error);
}

/** Colours with a 3:1 contrast or more against white, one per state. */
export const STATE_COLOURS = {
  defined: '#6b6b6b',
  queued: '#8a5a00',
  running: '#1f5fbf',
  finished: '#1e7b34',
  failed: '#b3261e',
  cancelled: '#5b4a8a',
};

const charts = new Map();

/**
 * A Chart.js chart in `container` (created once, then updated in place), its canvas with
 * role=img and an aria-label, and beside it a data table with the same numbers.
 */
export function chart(
  container,
  { id, label, type, labels, datasets, options = {}, tableCaption, columns, rows },
) {
  let entry = charts.get(id);
  // A chart whose canvas left the page (its section was rebuilt) is drawn afresh.
  if (entry !== undefined && !entry.canvas.isConnected) {
    entry.instance.destroy();
    entry = undefined;
  }
  if (entry === undefined) {
    const canvas = el('canvas', { id, role: 'img', 'aria-label': label });
    const details = el('details', {}, el('summary', {}, `${tableCaption} (table)`));
    container.replaceChildren(el('div', { class: 'chart' }, canvas), details);
    const instance = new window.Chart(canvas, {
      type,
      data: { labels, datasets },
      options: { animation: false, responsive: true, maintainAspectRatio: false, ...options },
    });
    entry = { instance, canvas, details };
    charts.set(id, entry);
  } else {
    entry.instance.data.labels = labels;
    entry.instance.data.datasets = datasets;
    entry.instance.update();
  }
  entry.canvas.setAttribute('aria-label', label);
  const old = entry.details.querySelector('table');
  const fresh = table({ caption: tableCaption, columns, rows, id: `${id}-table`, rowHeader: true });
  if (old === null) entry.details.append(fresh);
  else old.replaceWith(fresh);
}

/** Re-runs `load` every `everyMs` while the page is open, until it returns true (nothing changes any more). */
export function poll(load, everyMs) {
  let timer;
  const run = async () => {
    let finished = false;
    try {
      finished = (await load()) === true;
    } catch (error) {
      status(explain(error), 'error');
    }
    markLoaded();
    if (!finished) timer = setTimeout(run, everyMs);
  };
  void run();
  return () => clearTimeout(timer);
}

/** Tells tests (and anyone watching) that the page has shown its first answer: `body[data-loaded]`. */
export function markLoaded() {
  document.body.dataset.loaded = 'true';
}

export function formatTime(iso) {
  return iso === undefined ? '' : new Date(iso).toLocaleString();
}

export function formatSeconds(sec) {
  if (sec === undefined) return '';
  if (sec < 60) return `${sec.toFixed(1)} s`;
  if (sec < 3600) return `${(sec / 60).toFixed(1)} min`;
  return `${(sec / 3600).toFixed(2)} h`;
}

/** True when a token is set; otherwise says so in the status region. */
export function needToken() {
  if (getToken() !== '') return false;
  status('Enter your API token above (npm start prints a link that carries one).', 'info');
  return true;
}
