/**
 * What the task page draws, computed from the API's answers (pure functions, unit-tested in
 * test/unit/web): jobs by state over time, failures by error code, usage histograms, merged
 * histograms.
 */

/** The states drawn over time: where each job is at a moment. */
export const TIMELINE_STATES = ['queued', 'running', 'finished', 'failed', 'cancelled'];

/**
 * A job's life as intervals of one state each, from its attempts (ended ones, oldest first) and
 * the job record (its current attempt): queued from `queuedAt` (or the task's creation) until an
 * attempt starts, running while it runs, queued again between attempts, and its final state after
 * its last attempt ended.
 */
export function jobIntervals(job, taskCreatedAt) {
  const intervals = [];
  // A job waits from its task's creation (its record is written at its first claim).
  let queuedFrom = Date.parse(taskCreatedAt);
  const ended = [...(job.attempts ?? [])].sort((a, b) => a.attempt - b.attempt);
  // The job record's own attempt, when it is not among the ended ones (running, or listed without attempts).
  const current =
    job.startedAt !== undefined && !ended.some((a) => a.attempt === job.attempt)
      ? { attempt: job.attempt, startedAt: job.startedAt, endedAt: job.endedAt, state: job.state }
      : undefined;
  const all = current === undefined ? ended : [...ended, current];
  for (const a of all) {
    const start = Date.parse(a.startedAt);
    if (start > queuedFrom) intervals.push({ state: 'queued', from: queuedFrom, to: start });
    const end = a.endedAt === undefined ? Number.POSITIVE_INFINITY : Date.parse(a.endedAt);
    intervals.push({ state: 'running', from: start, to: end });
    queuedFrom = end;
  }
  if (Number.isFinite(queuedFrom)) {
    const final = ['finished', 'failed', 'cancelled'].includes(job.state) ? job.state : 'queued';
    intervals.push({ state: final, from: queuedFrom, to: Number.POSITIVE_INFINITY });
  }
  return intervals;
}

/**
 * Jobs per state at `points` moments evenly spread from `from` to `to` (ms since the epoch):
 * `{ times: [ms…], series: { queued: [n…], running: [n…], … } }`. `waiting` jobs have no record
 * yet (never claimed): they count as queued throughout.
 */
export function statesOverTime(jobs, taskCreatedAt, from, to, points = 40, waiting = 0) {
  const times = [];
  const n = Math.max(2, points);
  for (let i = 0; i < n; i++) times.push(Math.round(from + ((to - from) * i) / (n - 1)));
  const series = Object.fromEntries(TIMELINE_STATES.map((s) => [s, new Array(n).fill(0)]));
  series.queued.fill(waiting);
  for (const job of jobs) {
    const intervals = jobIntervals(job, taskCreatedAt);
    times.forEach((t, i) => {
      const at = intervals.find((iv) => iv.from <= t && t < iv.to);
      if (at !== undefined) series[at.state][i] += 1;
    });
  }
  return { times, series };
}

/** The attempts of a job that failed (any end but `finished`), the job record's own included. */
export function failedAttempts(job) {
  const ended = job.attempts ?? [];
  const own =
    job.state === 'failed' && !ended.some((a) => a.attempt === job.attempt)
      ? [
          {
            attempt: job.attempt,
            state: 'failed',
            pilotErrorCode: job.pilotErrorCode,
            errorMessage: job.errorMessage,
          },
        ]
      : [];
  return [...ended, ...own].filter((a) => a.state !== 'finished');
}

/**
 * Failed attempts grouped by pilot error code, most frequent first:
 * `[{ code, count, examples: [{ jobIndex, attempt, message }] }]` with up to `maxExamples` examples.
 */
export function failuresByCode(jobs, maxExamples = 3) {
  const groups = new Map();
  for (const job of [...jobs].sort((a, b) => a.jobIndex - b.jobIndex)) {
    for (const a of failedAttempts(job)) {
      const code = a.pilotErrorCode ?? 0;
      let group = groups.get(code);
      if (group === undefined) {
        group = { code, count: 0, examples: [] };
        groups.set(code, group);
      }
      group.count += 1;
      if (group.examples.length < maxExamples) {
        group.examples.push({ jobIndex: job.jobIndex, attempt: a.attempt, message: a.errorMessage ?? '' });
      }
    }
  }
  return [...groups.values()].sort((a, b) => b.count - a.count || a.code - b.code);
}

/**
 * Requested against used, per finished attempt: wall time (s) and memory (MB), each with what
 * the attempt asked for (its raised resources, else the spec's).
 */
export function usageOf(jobs, specResources) {
  const wall = [];
  const memory = [];
  for (const job of jobs) {
    const attempts = job.attempts ?? (job.usage === undefined ? [] : [{ ...job, state: job.state }]);
    for (const a of attempts) {
      if (a.state !== 'finished' || a.usage === undefined) continue;
      wall.push({
        used: a.usage.wallTimeSec,
        requested: a.resources?.walltimeSec ?? specResources.walltimeSec,
      });
      memory.push({
        used: a.usage.maxRssKB / 1024,
        requested: a.resources?.memoryMB ?? specResources.memoryMB,
      });
    }
  }
  return { wall, memory };
}

/**
 * Two histograms on the same `bins` bins from 0 to the largest value: how many attempts used,
 * and how many requested, each amount. `{ edges: [lo…, hi], used: [n…], requested: [n…] }`.
 */
export function requestedVsUsed(pairs, bins = 20) {
  const top = Math.max(1e-9, ...pairs.flatMap((p) => [p.used, p.requested]));
  const width = top / bins;
  const edges = Array.from({ length: bins + 1 }, (_, i) => i * width);
  const used = new Array(bins).fill(0);
  const requested = new Array(bins).fill(0);
  const bin = (v) => Math.min(bins - 1, Math.max(0, Math.floor(v / width)));
  for (const p of pairs) {
    used[bin(p.used)] += 1;
    requested[bin(p.requested)] += 1;
  }
  return { edges, used, requested };
}

/** True for a histogram as examples/zmumu writes it: `{ bins, low, high, counts[bins] }`. */
export function isHistogram(h) {
  return (
    typeof h === 'object' &&
    h !== null &&
    Number.isInteger(h.bins) &&
    typeof h.low === 'number' &&
    typeof h.high === 'number' &&
    Array.isArray(h.counts) &&
    h.counts.length === h.bins
  );
}

/** Adds histograms of the same binning (the jobs' parts of one task): counts and entries. */
export function sumHistograms(histograms) {
  if (histograms.length === 0) throw new Error('no histograms');
  const [first] = histograms;
  const counts = new Array(first.bins).fill(0);
  let entries = 0;
  for (const h of histograms) {
    if (h.bins !== first.bins || h.low !== first.low || h.high !== first.high) {
      throw new Error(
        `binning differs: ${h.bins} bins ${h.low}-${h.high} vs ${first.bins} bins ${first.low}-${first.high}`,
      );
    }
    h.counts.forEach((c, i) => {
      counts[i] += c;
    });
    entries += h.entries ?? h.counts.reduce((s, c) => s + c, 0);
  }
  return { bins: first.bins, low: first.low, high: first.high, counts, entries, parts: histograms.length };
}

/** Share of a task's jobs in each state, for a progress bar: `[{ state, count, percent }]`. */
export function progressSegments(
  counts,
  states = ['finished', 'failed', 'cancelled', 'running', 'queued', 'defined'],
) {
  const total = states.reduce((n, s) => n + (counts[s] ?? 0), 0);
  return states
    .map((state) => ({
      state,
      count: counts[state] ?? 0,
      percent: total === 0 ? 0 : (100 * (counts[state] ?? 0)) / total,
    }))
    .filter((s) => s.count > 0);
}
