/** Meta-tasks page: the token owner's meta-tasks (chains, bags, DAGs of tasks), refreshed every few seconds. */
import { all } from './api.js';
import { el, formatTime, initPage, needToken, poll, status, table } from './page.js';

const EVERY_MS = 3000;

async function load() {
  if (needToken()) return false;
  const metaTasks = await all('/meta-tasks', { max: 500 });
  status(metaTasks.length === 0 ? 'You have no meta-tasks yet (gluon dag submit FILE).' : '');
  document.getElementById('meta-tasks').replaceChildren(
    table({
      caption: `${metaTasks.length} meta-tasks`,
      id: 'meta-tasks-table',
      rowHeader: true,
      columns: ['Meta-task', 'Name', 'State', 'Nodes', 'Created'],
      rows: metaTasks.map((m) => [
        el('a', { href: `dag.html?id=${encodeURIComponent(m.metaTaskId)}` }, m.metaTaskId),
        m.name,
        el('span', { 'data-state': m.state }, m.state),
        m.nodes,
        formatTime(m.createdAt),
      ]),
    }),
  );
  return false;
}

let stop = () => undefined;
const start = () => {
  stop();
  stop = poll(load, EVERY_MS);
};
initPage(start);
start();
