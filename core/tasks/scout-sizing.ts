/**
 * Scouts and dynamic splitting (PanDA's scout jobs, CRAB's automatic splitting), the pure part: a
 * scouted task (`split.targetWalltimeSec`) first runs a few scout jobs of a fixed size; from their
 * usage the rest of its events (or input files) is cut into jobs of about the target walltime,
 * asking for the scouts' peak memory plus a margin. The workflow step is core/tasks/size-task.ts.
 */
import type { JobState, Usage } from '../jobs/job.ts';
import {
  isPilotErrorCode,
  PILOT_ERROR_CODES,
  PILOT_ERROR_DESCRIPTIONS,
} from '../pilots/pilot-error-codes.ts';
import {
  DEFAULT_MEMORY_MARGIN_PERCENT,
  DEFAULT_SCOUT_EVENTS,
  DEFAULT_SCOUTS,
  MAX_JOBS_PER_TASK,
  specFiles,
  type TaskSpec,
} from './task-spec.ts';

/** What a scouted task splits: its events (generation) or its input files (processing). */
export type SplitUnit = 'event' | 'file';

/** How a scouted task runs its scouts, from its spec alone. */
export interface ScoutPlan {
  unit: SplitUnit;
  /** The task's events, or its input files. */
  total: number;
  /** Events (files) per scout; the last scout may have fewer. */
  perScout: number;
  scouts: number;
  /** Events (files) the scouts take, from the first on: the rest starts after them. */
  scoutUnits: number;
  targetWalltimeSec: number;
  memoryMarginPercent: number;
}

/** The scouted task's plan, or undefined when the task is not scouted (no targetWalltimeSec). */
export function scoutPlan(spec: TaskSpec): ScoutPlan | undefined {
  const target = spec.split.targetWalltimeSec;
  if (target === undefined || spec.eventService !== undefined) return undefined;
  const unit: SplitUnit = spec.events !== undefined ? 'event' : 'file';
  const total = spec.events ?? specFiles(spec).length;
  const perScout =
    unit === 'event' ? (spec.split.eventsPerJob ?? DEFAULT_SCOUT_EVENTS) : (spec.split.filesPerJob ?? 1);
  // A task with fewer jobs' worth than the default number of scouts is all scouts.
  const scouts = spec.split.scouts ?? Math.min(DEFAULT_SCOUTS, Math.ceil(total / perScout));
  return {
    unit,
    total,
    perScout,
    scouts,
    scoutUnits: Math.min(total, scouts * perScout),
    targetWalltimeSec: target,
    memoryMarginPercent: spec.split.memoryMarginPercent ?? DEFAULT_MEMORY_MARGIN_PERCENT,
  };
}

/** What the scouts measured, from the finished ones (failed and cancelled ones are counted apart). */
export interface ScoutMeasurement {
  scouts: number;
  finished: number;
  failed: number;
  cancelled: number;
  /** Wall seconds per event (or file), at the 75th percentile (nearest rank) of the finished scouts. */
  wallSecPerUnit: number;
  /** CPU seconds per event (or file), the same way. */
  cpuSecPerUnit: number;
  /** The largest RSS of any finished scout, MB (rounded up). */
  peakRssMB: number;
}

/** The sizing chosen from the scouts, kept on the task; it fixes every job after the scouts. */
export interface TaskSizing {
  unit: SplitUnit;
  measured: ScoutMeasurement;
  /** Events (files) per job after the scouts; the last job takes the remainder. */
  perJob: number;
  /** Jobs after the scouts. */
  jobs: number;
  /** Memory each job after the scouts asks for (retries may raise it, as for any job). */
  memoryMB: number;
  /** What the sizing had to give up, in words (scouts that failed, a margin cut to fit the sites). */
  notes: string[];
  at: string;
}

/** One scout as its job record left it once final. */
export interface ScoutResult {
  state: Extract<JobState, 'finished' | 'failed' | 'cancelled'>;
  /** Events (files) it took. */
  units: number;
  usage?: Usage;
  pilotErrorCode?: number;
  exitCode?: number;
}

export type ScoutOutcome =
  | { outcome: 'sized'; sizing: Omit<TaskSizing, 'at'> }
  | { outcome: 'failed'; reason: string; measured: ScoutMeasurement };

/** Memory requests are rounded up to this (as the retry rules' escalation does). */
const MEMORY_STEP_MB = 100;
/** The percentile of the scouts' time per event that sizes the jobs (the primer: not the max). */
const TIME_PERCENTILE = 0.75;

/** The nearest-rank percentile of a non-empty list. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil(p * sorted.length));
  return sorted[rank - 1] as number;
}

/**
 * Sizes the rest of a scouted task from its final scouts. Time per event (or file) is taken at
 * the 75th percentile of the finished scouts, so most jobs end near the target and none far over
 * it; memory is the peak RSS of any finished scout plus the margin, rounded up to 100 MB, and at
 * most `slotMemoryMB` (the smallest slot of the task's sites: dispatch may send any job to any of
 * them). The peak itself always fits there: a scout over its own memory request was killed, and
 * brokerage checked that request against every chosen site. No finished scout: the task fails.
 */
export function sizeFromScouts(input: {
  plan: ScoutPlan;
  scouts: readonly ScoutResult[];
  slotMemoryMB?: number;
}): ScoutOutcome {
  const { plan, scouts } = input;
  const finished = scouts.filter((s) => s.state === 'finished' && s.usage !== undefined && s.units > 0);
  const failed = scouts.filter((s) => s.state === 'failed');
  const cancelled = scouts.filter((s) => s.state === 'cancelled');
  const counts = {
    scouts: scouts.length,
    finished: finished.length,
    failed: failed.length,
    cancelled: cancelled.length,
  };
  if (finished.length === 0) {
    return {
      outcome: 'failed',
      measured: { ...counts, wallSecPerUnit: 0, cpuSecPerUnit: 0, peakRssMB: 0 },
      reason: `${allScoutsFailed(counts)}; no other job ran (${describeErrors(scouts)})`,
    };
  }
  const per = (f: (u: Usage) => number) =>
    percentile(
      finished.map((s) => f(s.usage as Usage) / s.units),
      TIME_PERCENTILE,
    );
  const measured: ScoutMeasurement = {
    ...counts,
    wallSecPerUnit: per((u) => u.wallTimeSec),
    cpuSecPerUnit: per((u) => u.cpuTimeSec),
    peakRssMB: Math.ceil(Math.max(...finished.map((s) => (s.usage as Usage).maxRssKB)) / 1024),
  };
  const notes: string[] = [];
  if (finished.length < scouts.length) {
    notes.push(
      `sized from ${finished.length} of ${scouts.length} scouts; the others ${describeErrors(
        scouts.filter((s) => !finished.includes(s)),
      )}`,
    );
  }
  const remaining = plan.total - plan.scoutUnits;
  const { perJob, jobs } = cutRest(remaining, measured.wallSecPerUnit, plan, notes);
  const memoryMB = memoryRequest(measured.peakRssMB, plan.memoryMarginPercent, input.slotMemoryMB, notes);
  return { outcome: 'sized', sizing: { unit: plan.unit, measured, perJob, jobs, memoryMB, notes } };
}

/**
 * Events (files) per job so that a job takes about the target: at least 1, at most what remains;
 * widened when the target would give more jobs than a task may have.
 */
function cutRest(
  remaining: number,
  secPerUnit: number,
  plan: ScoutPlan,
  notes: string[],
): { perJob: number; jobs: number } {
  if (remaining <= 0) return { perJob: plan.perScout, jobs: 0 };
  // A scout too fast to measure takes the rest in one job; the epsilon keeps 600 / 0.3 at 2000.
  let perJob =
    secPerUnit > 0
      ? Math.min(remaining, Math.max(1, Math.floor(plan.targetWalltimeSec / secPerUnit + 1e-9)))
      : remaining;
  const room = MAX_JOBS_PER_TASK - plan.scouts;
  if (Math.ceil(remaining / perJob) > room) {
    perJob = Math.ceil(remaining / room);
    notes.push(
      `${perJob} ${plan.unit}s per job, more than the target allows, to stay within ${MAX_JOBS_PER_TASK} jobs`,
    );
  }
  return { perJob, jobs: Math.ceil(remaining / perJob) };
}

/** Peak plus margin, rounded up to 100 MB, within the sites' slots (the margin gives way first). */
function memoryRequest(
  peakRssMB: number,
  marginPercent: number,
  slotMemoryMB: number | undefined,
  notes: string[],
): number {
  const wanted = Math.max(
    MEMORY_STEP_MB,
    Math.ceil((peakRssMB * (100 + marginPercent)) / 100 / MEMORY_STEP_MB) * MEMORY_STEP_MB,
  );
  if (slotMemoryMB === undefined || wanted <= slotMemoryMB) return wanted;
  // Jobs asking for more than a site's slot would never be claimed there: the margin gives way.
  notes.push(
    `memory ${slotMemoryMB} MB, not the ${wanted} MB of peak plus ${marginPercent}%: the smallest slot of the task's sites`,
  );
  return slotMemoryMB;
}

function allScoutsFailed(counts: { scouts: number; failed: number; cancelled: number }): string {
  const what = counts.scouts === 1 ? 'the scout job' : `all ${counts.scouts} scout jobs`;
  if (counts.cancelled === 0) return `${what} failed`;
  if (counts.failed === 0) return `${what} were cancelled`;
  return `${what} failed or were cancelled`;
}

/** "exit code 3 ×2, pilot error 1102: payload exceeded its memory limit… ×1": how scouts ended, most frequent first. */
export function describeErrors(scouts: readonly ScoutResult[]): string {
  const byCause = new Map<string, number>();
  for (const s of scouts) {
    const cause =
      s.state === 'cancelled'
        ? 'cancelled'
        : s.state === 'finished'
          ? 'finished without usage'
          : s.pilotErrorCode === PILOT_ERROR_CODES.PAYLOAD_FAILED && s.exitCode !== undefined
            ? `exit code ${s.exitCode}`
            : s.pilotErrorCode !== undefined && isPilotErrorCode(s.pilotErrorCode)
              ? `pilot error ${s.pilotErrorCode}: ${PILOT_ERROR_DESCRIPTIONS[s.pilotErrorCode]}`
              : 'an unknown error';
    byCause.set(cause, (byCause.get(cause) ?? 0) + 1);
  }
  return [...byCause]
    .sort((a, b) => b[1] - a[1])
    .map(([cause, n]) => `${cause} ×${n}`)
    .join(', ');
}
