import { z } from 'zod';
import type { Attempt, AttemptEndState } from '../jobs/job.ts';
import { type ResourceClass, resourceClassOf } from '../jobs/resource-class.ts';
import type { PilotErrorCode } from '../pilots/pilot-error-codes.ts';
import type { Resources } from '../tasks/task-spec.ts';

/**
 * Accounting (Gratia, APEL): one usage record per ended attempt, and roll-ups per day × user,
 * day × group and day × site, added to incrementally as each record is written (never by scanning
 * jobs). A record's key is its attempt, so a replayed end writes nothing and adds nothing.
 */
export const ACCOUNTING_BY = ['user', 'group', 'site'] as const;
export type AccountingBy = (typeof ACCOUNTING_BY)[number];

/** Days are UTC calendar days, `YYYY-MM-DD`. */
export const DaySchema = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'a day as YYYY-MM-DD')
  .refine((day) => {
    const at = Date.parse(`${day}T00:00:00.000Z`);
    return Number.isFinite(at) && dayOf(new Date(at)) === day;
  }, 'not a calendar day');

/** One ended attempt, as accounting keeps it. Times in seconds (to the millisecond), memory in MB. */
export interface UsageRecord {
  taskId: string;
  jobIndex: number;
  attempt: number;
  /** The UTC day the attempt ended: the day it counts in. */
  day: string;
  /** The task's owner. */
  user: string;
  /** The user's fair-share group (core/policies), or the share tree's default group. */
  group: string;
  siteId: string;
  resourceClass: ResourceClass;
  cores: number;
  state: AttemptEndState;
  pilotErrorCode: PilotErrorCode;
  exitCode?: number;
  startedAt: string;
  endedAt: string;
  wallSec: number;
  cpuSec: number;
  /** cores × wall time: what the attempt held. */
  coreSec: number;
  maxRssMB: number;
  /** CPU time normalised to HEPscore23 seconds by the site's factor, when the site defines one. */
  hs23Sec?: number;
  /** What the attempt cost on a paid site: its wall time at its pilot's hourly price (USD, 6 decimals). */
  costUsd?: number;
}

/** One roll-up: a day and a user, group or site, with its attempts' usage summed (maxRssMB: the largest). */
export interface RollupRow {
  day: string;
  key: string;
  attempts: number;
  finished: number;
  /** Attempts that failed, were lost, evicted or abandoned (cancelled ones are neither finished nor failed). */
  failed: number;
  coreSec: number;
  wallSec: number;
  cpuSec: number;
  hs23Sec?: number;
  /** Summed costUsd of the attempts that had one. */
  costUsd?: number;
  maxRssMB: number;
}

/** What one record adds to each of its roll-ups. */
export type RollupDelta = Omit<RollupRow, 'day' | 'key'>;

/** `2026-12-02` of an ISO time (UTC). */
export function dayOf(iso: string | Date): string {
  return (typeof iso === 'string' ? new Date(iso) : iso).toISOString().slice(0, 10);
}

/** The day `n` days after `day` (before, for negative `n`). */
export function addDays(day: string, n: number): string {
  return dayOf(new Date(Date.parse(`${day}T00:00:00.000Z`) + n * 86_400_000));
}

/** Days from `from` to `to`, both included (1 for the same day). */
export function daysBetween(from: string, to: string): number {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000) + 1;
}

/**
 * Seconds kept to the millisecond: sums of such figures are exact in DynamoDB's decimal numbers,
 * so a roll-up equals the sum of its records to the last digit.
 */
export function toMillis(sec: number): number {
  return Math.round(sec * 1000) / 1000;
}

/**
 * Dollars kept to the billionth: a short attempt on a cheap slot costs well under a millionth (a
 * second of half an m5.large Spot is $0.000005), so coarser books would round most to 0. Sums of
 * such figures are exact in DynamoDB's decimals.
 */
export function roundUsd(usd: number): number {
  return Math.round(usd * 1e9) / 1e9;
}

/** A sum of dollar figures kept to the billionth, exact (as DynamoDB's ADD of them is). */
export function addUsd(a: number, b: number): number {
  return (Math.round(a * 1e9) + Math.round(b * 1e9)) / 1e9;
}

/** What an attempt cost: its wall time at its pilot's hourly price (USD, to the billionth). */
export function attemptCostUsd(wallSec: number, hourlyUsd: number): number {
  return roundUsd((wallSec / 3600) * hourlyUsd);
}

/** What a task's attempts on paid sites cost so far, and how many attempts had a cost. */
export interface TaskCost {
  usd: number;
  attempts: number;
}

/** What an attempt ran with and for whom: the task's owner and group, the job's resources, the site's factor. */
export interface UsageContext {
  user: string;
  group: string;
  /** The job's resources as its attempt had them (cores, memory, GPUs). */
  resources: Pick<Resources, 'cores' | 'memoryMB' | 'gpus'>;
  /** The site's HEPscore23 per core (SiteSchema accounting.hs23PerCore), when it has one. */
  hs23PerCore?: number;
  /** The attempt's pilot's hourly price (Pilot.cost.hourlyUsd), for an attempt at a paid site whose pilot has one. */
  hourlyUsd?: number;
}

/**
 * The usage record of an ended attempt. Wall time is the pilot's measure, or for an attempt without
 * one (its pilot was lost) the time from claim to end: the slot was held that long; CPU time and
 * memory are then unknown, 0.
 */
export function usageRecordOf(
  taskId: string,
  jobIndex: number,
  attempt: Attempt,
  context: UsageContext,
): UsageRecord {
  const elapsedSec = Math.max(0, (Date.parse(attempt.endedAt) - Date.parse(attempt.startedAt)) / 1000);
  const wallSec = toMillis(attempt.usage?.wallTimeSec ?? (Number.isFinite(elapsedSec) ? elapsedSec : 0));
  const cpuSec = toMillis(attempt.usage?.cpuTimeSec ?? 0);
  const cores = context.resources.cores;
  return {
    taskId,
    jobIndex,
    attempt: attempt.attempt,
    day: dayOf(attempt.endedAt),
    user: context.user,
    group: context.group,
    siteId: attempt.siteId,
    resourceClass: resourceClassOf(context.resources),
    cores,
    state: attempt.state,
    pilotErrorCode: attempt.pilotErrorCode,
    ...(attempt.exitCode === undefined ? {} : { exitCode: attempt.exitCode }),
    startedAt: attempt.startedAt,
    endedAt: attempt.endedAt,
    wallSec,
    cpuSec,
    coreSec: toMillis(cores * wallSec),
    maxRssMB: Math.ceil((attempt.usage?.maxRssKB ?? 0) / 1024),
    ...(context.hs23PerCore === undefined ? {} : { hs23Sec: toMillis(cpuSec * context.hs23PerCore) }),
    ...(context.hourlyUsd === undefined ? {} : { costUsd: attemptCostUsd(wallSec, context.hourlyUsd) }),
  };
}

/** `<taskId>#<jobIndex>#<attempt>`: the record's identity, the same for every replay of its end. */
export function usageKeyOf(record: Pick<UsageRecord, 'taskId' | 'jobIndex' | 'attempt'>): string {
  return `${record.taskId}#${record.jobIndex}#${record.attempt}`;
}

/** The key of the record's roll-up of `by`: its user, group or site. */
export function rollupKeyOf(record: UsageRecord, by: AccountingBy): string {
  return by === 'user' ? record.user : by === 'group' ? record.group : record.siteId;
}

const FAILED_STATES: ReadonlySet<AttemptEndState> = new Set(['failed', 'lost', 'evicted', 'abandoned']);

/** What the record adds to each of its three roll-ups. */
export function rollupDeltaOf(record: UsageRecord): RollupDelta {
  return {
    attempts: 1,
    finished: record.state === 'finished' ? 1 : 0,
    failed: FAILED_STATES.has(record.state) ? 1 : 0,
    coreSec: record.coreSec,
    wallSec: record.wallSec,
    cpuSec: record.cpuSec,
    ...(record.hs23Sec === undefined ? {} : { hs23Sec: record.hs23Sec }),
    ...(record.costUsd === undefined ? {} : { costUsd: record.costUsd }),
    maxRssMB: record.maxRssMB,
  };
}

/** Adds a delta to a row (sums exact to the millisecond; the largest maxRssMB). */
export function addToRollup(row: RollupRow, delta: RollupDelta): RollupRow {
  const sum = (a: number, b: number) => (Math.round(a * 1000) + Math.round(b * 1000)) / 1000;
  return {
    day: row.day,
    key: row.key,
    attempts: row.attempts + delta.attempts,
    finished: row.finished + delta.finished,
    failed: row.failed + delta.failed,
    coreSec: sum(row.coreSec, delta.coreSec),
    wallSec: sum(row.wallSec, delta.wallSec),
    cpuSec: sum(row.cpuSec, delta.cpuSec),
    ...(row.hs23Sec === undefined && delta.hs23Sec === undefined
      ? {}
      : { hs23Sec: sum(row.hs23Sec ?? 0, delta.hs23Sec ?? 0) }),
    ...(row.costUsd === undefined && delta.costUsd === undefined
      ? {}
      : { costUsd: addUsd(row.costUsd ?? 0, delta.costUsd ?? 0) }),
    maxRssMB: Math.max(row.maxRssMB, delta.maxRssMB),
  };
}

export function emptyRollup(day: string, key: string): RollupRow {
  return { day, key, attempts: 0, finished: 0, failed: 0, coreSec: 0, wallSec: 0, cpuSec: 0, maxRssMB: 0 };
}
