import type { RangeView } from '#core/api/event-ranges.ts';
import type {
  AttemptView,
  JobView,
  PilotView,
  ScoutingView,
  TaskSummary,
  TaskView,
} from '#core/api/index.ts';
import type { FieldIssue } from '#core/errors.ts';
import type { JobState, Usage } from '#core/jobs/job.ts';
import type { JobCounts } from '#core/jobs/job-counts.ts';
import {
  PILOT_ERROR_DESCRIPTIONS,
  type PilotErrorCode,
  SYSTEM_ERROR_CODES,
} from '#core/pilots/pilot-error-codes.ts';

/** Job states in the order the progress bar draws them (final first, then what is still to come). */
export const BAR_STATES = ['finished', 'failed', 'cancelled', 'running', 'queued', 'defined'] as const;

const ANSI: Record<JobState, string> = {
  finished: '\u001b[32m',
  failed: '\u001b[31m',
  cancelled: '\u001b[90m',
  running: '\u001b[36m',
  queued: '\u001b[33m',
  defined: '\u001b[2m',
};
const RESET = '\u001b[0m';
const BOLD = '\u001b[1m';

/** Plain-text glyphs, one per state, so the bar reads without colour too. */
const GLYPH: Record<JobState, string> = {
  finished: '#',
  failed: 'X',
  cancelled: '/',
  running: '>',
  queued: '.',
  defined: ' ',
};

const TASK_STATE_COLOUR: Record<string, string> = {
  done: '\u001b[32m',
  partial: '\u001b[33m',
  failed: '\u001b[31m',
  cancelled: '\u001b[90m',
  running: '\u001b[36m',
};

export interface RenderOptions {
  /** ANSI colours (only when writing to a terminal). */
  color?: boolean;
  /** Cells of the bar between the brackets. */
  width?: number;
}

export const DEFAULT_BAR_WIDTH = 40;

type ProgressInput = Pick<TaskSummary, 'counts' | 'jobCount'>;

function paint(text: string, code: string | undefined, color: boolean): string {
  return color && code !== undefined && text !== '' ? `${code}${text}${RESET}` : text;
}

/** Total the bar is drawn against: the task's job count, or the counts' sum if that is larger. */
function barTotal(task: ProgressInput): number {
  const sum = BAR_STATES.reduce((n, s) => n + (task.counts[s] ?? 0), 0);
  return Math.max(task.jobCount, sum);
}

/**
 * Cells per state, proportional to the counts, summing to exactly `width` when there are jobs
 * (largest remainder; a state with jobs gets at least one cell when the width allows).
 */
export function barCells(counts: Partial<JobCounts>, total: number, width: number): Record<JobState, number> {
  const cells = Object.fromEntries(BAR_STATES.map((s) => [s, 0])) as Record<JobState, number>;
  if (total <= 0 || width <= 0) return cells;
  const shares = BAR_STATES.map((s) => ({ s, exact: ((counts[s] ?? 0) / total) * width }));
  let used = 0;
  for (const { s, exact } of shares) {
    cells[s] = Math.floor(exact);
    used += cells[s];
  }
  // Jobs not yet in any count (still being written) leave the end of the bar empty.
  const counted = BAR_STATES.reduce((n, s) => n + (counts[s] ?? 0), 0);
  const target = Math.min(width, Math.round((counted / total) * width));
  const order = [...shares].sort((a, b) => b.exact - Math.floor(b.exact) - (a.exact - Math.floor(a.exact)));
  for (const { s, exact } of order) {
    if (used >= target) break;
    if (exact > cells[s]) {
      cells[s] += 1;
      used += 1;
    }
  }
  // Make sure a state with jobs shows up, taking a cell from the largest segment.
  for (const s of BAR_STATES) {
    if ((counts[s] ?? 0) > 0 && cells[s] === 0) {
      const largest = BAR_STATES.reduce((a, b) => (cells[b] > cells[a] ? b : a));
      if (cells[largest] > 1) {
        cells[largest] -= 1;
        cells[s] = 1;
      }
    }
  }
  return cells;
}

/** Finished + failed + cancelled over all jobs, 0–100. */
export function percentDone(task: ProgressInput): number {
  const total = barTotal(task);
  if (total === 0) return 0;
  return Math.floor(
    (100 * ((task.counts.finished ?? 0) + (task.counts.failed ?? 0) + (task.counts.cancelled ?? 0))) / total,
  );
}

/**
 * One line: `[####XX>>..      ]  40% of 10 jobs` followed by a line of counts by state,
 * e.g. `finished 4  failed 0  cancelled 0  running 2  queued 4  defined 0`.
 */
export function renderProgress(task: ProgressInput, options: RenderOptions = {}): string {
  const width = options.width ?? DEFAULT_BAR_WIDTH;
  const color = options.color ?? false;
  const total = barTotal(task);
  const cells = barCells(task.counts, total, width);
  let bar = '';
  let drawn = 0;
  for (const s of BAR_STATES) {
    const n = cells[s];
    drawn += n;
    bar += paint((color ? '█' : GLYPH[s]).repeat(n), ANSI[s], color);
  }
  bar += ' '.repeat(Math.max(0, width - drawn));
  const pct = `${String(percentDone(task)).padStart(3)}%`;
  const head =
    total === 0
      ? `[${bar}] not split into jobs yet`
      : `[${bar}] ${pct} of ${total} job${total === 1 ? '' : 's'}`;
  const legend = BAR_STATES.map((s) => {
    const label = `${color ? '' : `${GLYPH[s] === ' ' ? '_' : GLYPH[s]} `}${s} ${task.counts[s] ?? 0}`;
    return paint(label, ANSI[s], color && (task.counts[s] ?? 0) > 0);
  }).join('  ');
  return `${head}\n${legend}`;
}

/** The plain `gluon status` view: name, state, reason, events and ranges (event service), the job bar. */
export function renderTaskStatus(task: TaskView | TaskSummary, options: RenderOptions = {}): string {
  const color = options.color ?? false;
  const state = paint(task.state, TASK_STATE_COLOUR[task.state], color);
  const lines = [
    `${paint(task.name, BOLD, color)}  ${task.taskId}`,
    `state: ${state}${task.cancelRequested && task.state !== 'cancelled' ? ' (cancel requested)' : ''}`,
  ];
  if (task.reason !== undefined && task.reason !== '') lines.push(`reason: ${task.reason}`);
  if (task.ranges !== undefined) lines.push(renderEventProgress(task.ranges, options));
  lines.push(renderProgress(task, options));
  if ('scouting' in task && task.scouting !== undefined) lines.push(...renderScouting(task.scouting));
  for (const o of task.outputs ?? [])
    lines.push(`output: ${o.key} (${formatKB(Math.ceil(o.bytes / 1024))}, adler32 ${o.adler32 ?? '?'})`);
  return lines.join('\n');
}

/**
 * A scouted task's lines: `scouts: 3 of 3 finished: 0.0512 s wall per event, peak RSS 45 MB` and
 * `sizing: 1171 events per job (target 60 s), 17 more jobs, memory 100 MB`, and the sizing's notes.
 */
export function renderScouting(scouting: ScoutingView): string[] {
  const unit = scouting.unit;
  const m = scouting.measured;
  if (scouting.state !== 'sized' || m === undefined) {
    return [
      scouting.state === 'scouting'
        ? `scouts: the first ${scouting.scouts} jobs measure time and memory per ${unit}; the rest is sized to about ${scouting.targetWalltimeSec} s a job when they end`
        : `scouts: ${scouting.scouts} jobs; the task ended before it was sized from them`,
    ];
  }
  const perUnit = (sec: number) => `${Number(sec.toPrecision(3))} s`;
  const ended = [
    `${m.finished} of ${scouting.scouts} finished`,
    ...(m.failed > 0 ? [`${m.failed} failed`] : []),
    ...(m.cancelled > 0 ? [`${m.cancelled} cancelled`] : []),
  ].join(', ');
  return [
    `scouts: ${ended}: ${perUnit(m.wallSecPerUnit)} wall (${perUnit(m.cpuSecPerUnit)} CPU) per ${unit}, peak RSS ${m.peakRssMB} MB`,
    `sizing: ${scouting.perJob} ${unit}s per job (target ${scouting.targetWalltimeSec} s), ${scouting.jobs} more jobs, memory ${scouting.memoryMB} MB`,
    ...(scouting.notes ?? []).map((n) => `  note: ${n}`),
  ];
}

type RangeCounts = NonNullable<TaskSummary['ranges']>;

/**
 * An event-service task's progress in events: `[#####     ]  52% events 10400 of 20000` and a line
 * of ranges by state.
 */
export function renderEventProgress(ranges: RangeCounts, options: RenderOptions = {}): string {
  const width = options.width ?? DEFAULT_BAR_WIDTH;
  const done = ranges.events === 0 ? 0 : Math.floor((width * ranges.eventsFinished) / ranges.events);
  const pct = ranges.events === 0 ? 0 : Math.floor((100 * ranges.eventsFinished) / ranges.events);
  const bar = paint('#'.repeat(done), ANSI.finished, options.color ?? false) + ' '.repeat(width - done);
  return [
    `[${bar}] ${String(pct).padStart(3)}% events ${ranges.eventsFinished} of ${ranges.events}`,
    `ranges: finished ${ranges.finished}  fatal ${ranges.fatal}  failed ${ranges.failed}  running ${ranges.running}  ready ${ranges.ready}  of ${ranges.total}`,
  ].join('\n');
}

/** `gluon ranges`: one line per range. */
export function renderRangesTable(ranges: RangeView[]): string {
  if (ranges.length === 0) return 'no ranges';
  return renderTable(
    ['RANGE', 'STATE', 'ATTEMPT', 'EVENTS', 'FILE', 'PILOT', 'JOB', 'WALL', 'ERROR'],
    ranges.map((r) => [
      String(r.rangeIndex),
      r.state,
      String(r.attempt),
      `${r.firstEvent}-${r.firstEvent + r.nEvents - 1}`,
      r.file ?? '-',
      r.pilotId ?? '-',
      r.jobIndex === undefined ? '-' : String(r.jobIndex),
      r.wallTimeSec === undefined ? '-' : formatSeconds(r.wallTimeSec),
      trim(r.errorCode === undefined ? r.error : `${r.errorCode} ${r.error ?? ''}`, 60),
    ]),
  );
}

/** Aligned text table; the last column is not padded. */
export function renderTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** `2026-11-25T12:34:56.789Z` → `2026-11-25 12:34:56`. */
export function shortTime(iso: string | undefined): string {
  if (iso === undefined) return '-';
  return iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, '');
}

/** Seconds between an ISO time and now, as `12s ago`, `5m ago`, `3h ago`. */
export function ago(iso: string | undefined, now: Date): string {
  if (iso === undefined) return '-';
  const sec = Math.max(0, Math.round((now.getTime() - Date.parse(iso)) / 1000));
  if (!Number.isFinite(sec)) return iso;
  if (sec < 120) return `${sec}s ago`;
  if (sec < 7200) return `${Math.round(sec / 60)}m ago`;
  return `${Math.round(sec / 3600)}h ago`;
}

export function trim(text: string | undefined, max: number): string {
  if (text === undefined) return '';
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length <= max ? one : `${one.slice(0, max - 1)}…`;
}

export function renderTasksTable(tasks: TaskSummary[]): string {
  if (tasks.length === 0) return 'no tasks';
  return renderTable(
    ['ID', 'NAME', 'STATE', 'JOBS', 'DONE', 'CREATED'],
    tasks.map((t) => [
      t.taskId,
      t.name,
      t.state,
      String(t.jobCount),
      `${percentDone(t)}%`,
      shortTime(t.createdAt),
    ]),
  );
}

export function renderJobsTable(jobs: JobView[]): string {
  if (jobs.length === 0) return 'no jobs';
  return renderTable(
    ['INDEX', 'STATE', 'ATTEMPT', 'SITE', 'PILOT', 'EXIT', 'ERROR', 'WALL S', 'MESSAGE'],
    jobs.map((j) => [
      String(j.jobIndex),
      j.state,
      String(j.attempt),
      j.siteId ?? '-',
      j.pilotId ?? '-',
      j.exitCode === undefined ? '-' : String(j.exitCode),
      j.pilotErrorCode === undefined || j.pilotErrorCode === 0 ? '-' : String(j.pilotErrorCode),
      j.usage === undefined ? '-' : j.usage.wallTimeSec.toFixed(1),
      trim(j.errorMessage, 60),
    ]),
  );
}

export function renderPilotsTable(pilots: PilotView[], now: Date = new Date()): string {
  if (pilots.length === 0) return 'no pilots';
  // Where pilots run in the cloud, the table says on what and at what price.
  const cloud = pilots.some((p) => p.cloud !== undefined);
  return renderTable(
    [
      'ID',
      'SITE',
      'HOST',
      'PID',
      'STATE',
      'JOBS RUN',
      'LAST HEARTBEAT',
      ...(cloud ? ['INSTANCE', 'MARKET', '$/H'] : []),
    ],
    pilots.map((p) => [
      p.pilotId,
      p.siteId,
      p.host,
      String(p.pid),
      p.state,
      String(p.jobsRun ?? ''),
      ago(p.lease?.beatAt ?? p.endedAt ?? p.registeredAt, now),
      ...(cloud ? cloudCells(p) : []),
    ]),
  );
}

/** A cloud pilot's instance type (or `batch`), market and hourly price; `-` where unknown. */
function cloudCells(pilot: PilotView): string[] {
  const node = pilot.cloud;
  if (node === undefined) return ['-', '-', '-'];
  return [
    node.provider === 'batch' ? 'batch' : (node.instanceType ?? '-'),
    node.market ?? '-',
    pilot.cost === undefined ? '-' : formatUsd(pilot.cost.hourlyUsd),
  ];
}

/** Dollars as people read them: cents for amounts of a dollar or more, four decimals below. */
export function formatUsd(usd: number): string {
  return usd >= 1 ? `$${usd.toFixed(2)}` : `$${usd.toFixed(4)}`;
}

/** A message and its field issues, one issue per line. */
export function renderError(message: string, issues: FieldIssue[] = []): string {
  const lines = [`error: ${message}`];
  for (const issue of issues) lines.push(`  ${issue.field}: ${issue.message}`);
  return lines.join('\n');
}

export function formatSeconds(sec: number): string {
  if (sec < 120) return `${sec.toFixed(1)} s`;
  if (sec < 7200) return `${(sec / 60).toFixed(1)} min`;
  return `${(sec / 3600).toFixed(2)} h`;
}

export function formatKB(kb: number): string {
  if (kb < 1024) return `${kb} KB`;
  if (kb < 1024 * 1024) return `${(kb / 1024).toFixed(1)} MB`;
  return `${(kb / 1024 / 1024).toFixed(2)} GB`;
}

/** Attempts a job has used: ended attempts plus the one in flight (if any). */
export function attemptsUsed(job: JobView): number {
  if (job.attempts !== undefined && job.attempts.length > 0) {
    return job.attempts.length + (job.state === 'running' ? 1 : 0);
  }
  if (job.state === 'finished' || job.state === 'failed' || job.state === 'running') return job.attempt;
  if (job.state === 'cancelled') return job.pilotId === undefined ? 0 : job.attempt;
  return job.attempt - 1;
}

export interface TaskTotals {
  attempts: number;
  retries: number;
  wallTimeSec: number;
  cpuTimeSec: number;
  maxRssKB: number;
  outputKeys: string[];
  errors: Array<{ jobIndex: number; attempt: number; text: string }>;
}

function describeFailure(a: {
  exitCode?: number | undefined;
  signal?: string | undefined;
  pilotErrorCode: AttemptView['pilotErrorCode'];
  errorMessage?: string | undefined;
}): string {
  const parts: string[] = [];
  if (a.pilotErrorCode !== 0) {
    parts.push(`error ${a.pilotErrorCode} (${PILOT_ERROR_DESCRIPTIONS[a.pilotErrorCode] ?? 'unknown code'})`);
  }
  if (a.exitCode !== undefined && a.exitCode !== 0) parts.push(`exit ${a.exitCode}`);
  if (a.signal !== undefined) parts.push(`signal ${a.signal}`);
  const text = parts.join(', ');
  return a.errorMessage ? `${text}${text ? ': ' : ''}${trim(a.errorMessage, 120)}` : text;
}

/** Sums over every attempt of every job: what the task used, where its outputs are, what went wrong. */
export function taskTotals(jobs: JobView[], maxErrors = 5): TaskTotals {
  const totals: TaskTotals = {
    attempts: 0,
    retries: 0,
    wallTimeSec: 0,
    cpuTimeSec: 0,
    maxRssKB: 0,
    outputKeys: [],
    errors: [],
  };
  const addUsage = (u: Usage | undefined) => {
    if (u === undefined) return;
    totals.wallTimeSec += u.wallTimeSec;
    totals.cpuTimeSec += u.cpuTimeSec;
    totals.maxRssKB = Math.max(totals.maxRssKB, u.maxRssKB);
  };
  const sorted = [...jobs].sort((a, b) => a.jobIndex - b.jobIndex);
  for (const job of sorted) {
    const used = attemptsUsed(job);
    totals.attempts += used;
    totals.retries += Math.max(0, used - 1);
    const attempts = job.attempts ?? [];
    if (attempts.length > 0) {
      for (const a of attempts) {
        addUsage(a.usage);
        if (a.state !== 'finished' && a.state !== 'cancelled' && totals.errors.length < maxErrors) {
          totals.errors.push({
            jobIndex: job.jobIndex,
            attempt: a.attempt,
            text: `${a.state}: ${describeFailure(a)}`,
          });
        }
      }
    } else {
      addUsage(job.usage);
      if (job.state === 'failed' && totals.errors.length < maxErrors) {
        totals.errors.push({
          jobIndex: job.jobIndex,
          attempt: job.attempt,
          text: `failed: ${describeFailure({ ...job, pilotErrorCode: job.pilotErrorCode ?? 0 })}`,
        });
      }
    }
    if (job.state === 'finished') for (const o of job.outputs ?? []) totals.outputKeys.push(o.key);
  }
  return totals;
}

/** The end-of-task summary: jobs by state, attempts, usage, where the outputs are, the first errors. */
export function renderTaskSummary(
  task: TaskView | TaskSummary,
  jobs: JobView[],
  options: RenderOptions = {},
): string {
  const color = options.color ?? false;
  const totals = taskTotals(jobs);
  const byState = BAR_STATES.filter((s) => (task.counts[s] ?? 0) > 0 || s === 'finished')
    .map((s) => `${s} ${task.counts[s] ?? 0}`)
    .join(', ');
  const lines = [
    `Task ${task.taskId} (${task.name}): ${paint(task.state, TASK_STATE_COLOUR[task.state], color)}${task.reason ? ` (${task.reason})` : ''}`,
    `  jobs:     ${task.jobCount} (${byState})`,
    `  attempts: ${totals.attempts} used (${totals.retries} ${totals.retries === 1 ? 'retry' : 'retries'})`,
    `  usage:    wall ${formatSeconds(totals.wallTimeSec)}, CPU ${formatSeconds(totals.cpuTimeSec)}, max RSS ${formatKB(totals.maxRssKB)}`,
  ];
  if (totals.outputKeys.length === 0) {
    lines.push('  outputs:  none');
  } else {
    const shown = 5;
    lines.push(
      `  outputs:  ${totals.outputKeys.length} file${totals.outputKeys.length === 1 ? '' : 's'} in the task bucket:`,
    );
    for (const key of totals.outputKeys.slice(0, shown)) lines.push(`    ${key}`);
    if (totals.outputKeys.length > shown) lines.push(`    … and ${totals.outputKeys.length - shown} more`);
  }
  if (totals.errors.length > 0) {
    lines.push('  errors:');
    for (const e of totals.errors) lines.push(`    job ${e.jobIndex} attempt ${e.attempt}: ${e.text}`);
  }
  return lines.join('\n');
}

/** `1234 bytes`, `1 byte`. */
function bytesText(bytes: number): string {
  return `${bytes} byte${bytes === 1 ? '' : 's'}`;
}

/** What the pilot error code means, `1001 (payload exited with a non-zero code)`. */
function errorCodeText(code: PilotErrorCode): string {
  return `${code} (${PILOT_ERROR_DESCRIPTIONS[code] ?? 'unknown code'})`;
}

function usageText(usage: Usage): string {
  return `wall ${formatSeconds(usage.wallTimeSec)}, CPU ${formatSeconds(usage.cpuTimeSec)}, max RSS ${formatKB(usage.maxRssKB)}`;
}

function resourcesText(resources: JobView['resources']): string {
  const parts = [
    ...(resources?.memoryMB === undefined ? [] : [`memory ${resources.memoryMB} MB`]),
    ...(resources?.walltimeSec === undefined ? [] : [`walltime ${resources.walltimeSec} s`]),
  ];
  return parts.length === 0 ? "the task's" : `${parts.join(', ')} (raised for retries)`;
}

/** The ERROR cell of an attempt: its message, else its signal or non-zero exit code. */
function attemptMessage(a: Pick<AttemptView, 'errorMessage' | 'signal' | 'exitCode'>): string {
  if (a.errorMessage !== undefined && a.errorMessage !== '') return trim(a.errorMessage, 60);
  if (a.signal !== undefined) return `signal ${a.signal}`;
  if (a.exitCode !== undefined && a.exitCode !== 0) return `exit ${a.exitCode}`;
  return '';
}

/**
 * Every attempt of a job, oldest first: the ended ones the API lists and, while the job runs, the
 * one in flight; then what each error code seen means and where each attempt's log is.
 */
export function renderAttemptsTable(job: JobView): string {
  const attempts = job.attempts ?? [];
  const rows = attempts.map((a) => [
    String(a.attempt),
    a.state,
    a.siteId,
    `${a.pilotId} / ${a.host ?? '-'}`,
    shortTime(a.startedAt),
    shortTime(a.endedAt),
    a.usage === undefined ? '-' : a.usage.wallTimeSec.toFixed(1),
    a.exitCode === undefined ? '-' : String(a.exitCode),
    a.pilotErrorCode === 0 ? '-' : String(a.pilotErrorCode),
    attemptMessage(a),
  ]);
  if (job.state === 'running' && !attempts.some((a) => a.attempt === job.attempt)) {
    rows.push([
      String(job.attempt),
      'running',
      job.siteId ?? '-',
      `${job.pilotId ?? '-'} / ${job.host ?? '-'}`,
      shortTime(job.startedAt),
      '-',
      '-',
      '-',
      '-',
      '',
    ]);
  }
  if (rows.length === 0) {
    return job.state === 'cancelled' ? 'no attempt ran' : 'no attempt has run yet';
  }
  const lines = [
    renderTable(
      ['ATTEMPT', 'STATE', 'SITE', 'PILOT / HOST', 'STARTED', 'ENDED', 'WALL S', 'EXIT', 'ERROR', 'MESSAGE'],
      rows,
    ),
  ];
  const codes = [...new Set(attempts.map((a) => a.pilotErrorCode).filter((c) => c !== 0))].sort(
    (a, b) => a - b,
  );
  for (const code of codes) {
    const system = SYSTEM_ERROR_CODES.has(code)
      ? '; an infrastructure error: the default retry rules do not count it against maxAttempts'
      : '';
    lines.push(`  ${code}: ${PILOT_ERROR_DESCRIPTIONS[code] ?? 'unknown code'}${system}`);
  }
  const logs = attempts.filter((a) => a.log !== undefined);
  if (logs.length > 0) {
    lines.push('Logs:');
    for (const a of logs) lines.push(`  attempt ${a.attempt}: ${a.log?.key}`);
  }
  return lines.join('\n');
}

/**
 * The `gluon job` view: where and how the job's current (or last) attempt ran, what it wrote, then
 * every attempt it had, so that a retry can be understood at a glance.
 */
export function renderJob(job: JobView, options: RenderOptions = {}): string {
  const color = options.color ?? false;
  const earlier = job.attempt - 1;
  const lines = [
    `Job ${job.jobIndex} of task ${job.taskId}: ${paint(job.state, ANSI[job.state], color)}`,
    `  attempt:    ${job.attempt}${earlier > 0 ? ` (after ${earlier} earlier attempt${earlier === 1 ? '' : 's'})` : ''}`,
    `  site:       ${job.siteId ?? '-'}`,
    `  pilot:      ${job.pilotId ?? '-'}`,
    `  host:       ${job.host ?? '-'}`,
    `  resources:  ${resourcesText(job.resources)}`,
  ];
  if (job.firstEvent !== undefined || job.nEvents !== undefined) {
    lines.push(`  events:     first ${job.firstEvent ?? 0}, ${job.nEvents ?? 0} events`);
  }
  if (job.inputFiles !== undefined && job.inputFiles.length > 0) {
    lines.push(`  inputs:     ${job.inputFiles.join(', ')}`);
  }
  if (job.startedAt !== undefined) lines.push(`  started:    ${shortTime(job.startedAt)}`);
  if (job.endedAt !== undefined) lines.push(`  ended:      ${shortTime(job.endedAt)}`);
  if (job.usage !== undefined) lines.push(`  usage:      ${usageText(job.usage)}`);
  if (job.exitCode !== undefined || job.signal !== undefined) {
    const exit = job.exitCode === undefined ? '-' : String(job.exitCode);
    lines.push(`  exit code:  ${exit}${job.signal === undefined ? '' : ` (signal ${job.signal})`}`);
  }
  if (job.pilotErrorCode !== undefined) lines.push(`  error code: ${errorCodeText(job.pilotErrorCode)}`);
  if (job.errorMessage !== undefined && job.errorMessage !== '') {
    lines.push(`  error:      ${trim(job.errorMessage, 200)}`);
  }
  const ran = job.pilotId !== undefined && job.state !== 'running' && job.state !== 'queued';
  const outputs = job.outputs ?? [];
  if (outputs.length > 0) {
    lines.push(`  outputs:    ${outputs.length} file${outputs.length === 1 ? '' : 's'} in the task bucket:`);
    const table = renderTable(
      ['KEY', 'BYTES', 'ADLER32'],
      outputs.map((o) => [o.key, String(o.bytes), o.adler32 ?? '-']),
    );
    for (const line of table.split('\n')) lines.push(`    ${line}`);
  } else if (ran) {
    lines.push('  outputs:    none');
  }
  if (job.log !== undefined) lines.push(`  log:        ${job.log.key} (${bytesText(job.log.bytes)})`);
  else if (ran) lines.push('  log:        none');
  lines.push('', 'Attempts:', renderAttemptsTable(job));
  return lines.join('\n');
}
