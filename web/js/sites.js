/**
 * Sites and pilots: each site's status, running work (busy pilots) and queued work (its queues'
 * depth, for tokens allowed to read the demand), its recent failure rate (site health's window),
 * and the pilots, refreshed every few seconds.
 */
import { ApiError, all, api, mapLimit } from './api.js';
import { chart, formatTime, initPage, needToken, poll, status, table } from './page.js';

const EVERY_MS = 5000;

/** A site's detail and demand; either is undefined when this token may not read it. */
async function details(site) {
  const optional = (promise) =>
    promise.catch((error) => {
      if (error instanceof ApiError && (error.status === 403 || error.status === 404)) return undefined;
      throw error;
    });
  const [detail, demand] = await Promise.all([
    optional(api(`/sites/${encodeURIComponent(site.siteId)}`)),
    optional(api(`/sites/${encodeURIComponent(site.siteId)}/demand`)),
  ]);
  return { site, detail, demand };
}

function failureRate(detail) {
  if (detail === undefined) return 'unknown';
  const { attempts, infraFailures, counts } = detail.outcomes;
  if (attempts === 0) return 'no attempts';
  const failed = attempts - (counts.finished ?? 0);
  return `${((100 * failed) / attempts).toFixed(0)} % (${failed} of ${attempts}; ${infraFailures} site errors)`;
}

async function load() {
  if (needToken()) return false;
  const [sites, pilots] = await Promise.all([all('/sites'), all('/pilots', { max: 1000 })]);
  const rows = await mapLimit(sites, 4, details);
  status(sites.length === 0 ? 'No sites are defined.' : '');
  document.getElementById('sites').replaceChildren(
    table({
      caption: `${sites.length} sites`,
      id: 'sites-table',
      rowHeader: true,
      columns: [
        'Site',
        'Kind',
        'Status',
        'Running (busy pilots)',
        'Queued jobs',
        'Pilots idle/starting/draining',
        'Max pilots',
        'Recent failure rate',
        'Status since',
      ],
      rows: rows.map(({ site, detail, demand }) => [
        site.siteId,
        site.kind,
        site.status,
        String(site.pilots?.busy ?? 0),
        demand === undefined ? 'not visible to this token' : String(demand.queuedJobs),
        `${site.pilots?.idle ?? 0}/${site.pilots?.starting ?? 0}/${site.pilots?.draining ?? 0}`,
        String(site.maxPilots),
        failureRate(detail),
        formatTime(site.statusChange?.at),
      ]),
    }),
  );
  chart(document.getElementById('work-chart'), {
    id: 'work',
    type: 'bar',
    label: `Running and queued work per site: ${rows.map(({ site, demand }) => `${site.siteId} ${site.pilots?.busy ?? 0} running, ${demand?.queuedJobs ?? 'unknown'} queued`).join('; ')}`,
    labels: sites.map((s) => s.siteId),
    datasets: [
      {
        label: 'running (busy pilots)',
        data: rows.map((r) => r.site.pilots?.busy ?? 0),
        backgroundColor: '#1f5fbf',
      },
      { label: 'queued jobs', data: rows.map((r) => r.demand?.queuedJobs ?? 0), backgroundColor: '#8a5a00' },
    ],
    options: { scales: { y: { beginAtZero: true } } },
    tableCaption: 'Running and queued work per site',
    columns: ['Site', 'Running', 'Queued'],
    rows: rows.map(({ site, demand }) => [
      site.siteId,
      site.pilots?.busy ?? 0,
      demand?.queuedJobs ?? 'unknown',
    ]),
  });
  const live = pilots.filter((p) => p.endedAt === undefined);
  document.getElementById('pilots').replaceChildren(
    table({
      caption: `${live.length} live pilots of ${pilots.length} listed`,
      id: 'pilots-table',
      rowHeader: true,
      columns: ['Pilot', 'Site', 'State', 'Host', 'Jobs run', 'Running jobs', 'Registered', 'Last heartbeat'],
      rows: pilots.map((p) => [
        p.pilotId,
        p.siteId,
        p.state,
        p.host,
        String(p.jobsRun ?? 0),
        String(p.lease?.jobs.length ?? 0),
        formatTime(p.registeredAt),
        formatTime(p.lease?.beatAt),
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
