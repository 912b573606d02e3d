/** Types of task-model.js for the unit tests (the pages use the plain module). */
export const TIMELINE_STATES: readonly ['queued', 'running', 'finished', 'failed', 'cancelled'];
export type TimelineState = (typeof TIMELINE_STATES)[number];

export interface AttemptLike {
  attempt: number;
  state: string;
  startedAt?: string;
  endedAt?: string;
  pilotErrorCode?: number;
  errorMessage?: string;
  usage?: { wallTimeSec: number; cpuTimeSec: number; maxRssKB: number };
  resources?: { memoryMB?: number; walltimeSec?: number };
}
export interface JobLike {
  jobIndex: number;
  state: string;
  attempt: number;
  startedAt?: string;
  endedAt?: string;
  queuedAt?: string;
  pilotErrorCode?: number;
  errorMessage?: string;
  usage?: AttemptLike['usage'];
  resources?: AttemptLike['resources'];
  attempts?: AttemptLike[];
}
export interface Interval {
  state: TimelineState;
  from: number;
  to: number;
}
export function jobIntervals(job: JobLike, taskCreatedAt: string): Interval[];
export function statesOverTime(
  jobs: JobLike[],
  taskCreatedAt: string,
  from: number,
  to: number,
  points?: number,
  waiting?: number,
): { times: number[]; series: Record<TimelineState, number[]> };
export function failedAttempts(job: JobLike): AttemptLike[];
export function failuresByCode(
  jobs: JobLike[],
  maxExamples?: number,
): { code: number; count: number; examples: { jobIndex: number; attempt: number; message: string }[] }[];
export interface UsagePair {
  used: number;
  requested: number;
}
export function usageOf(
  jobs: JobLike[],
  specResources: { memoryMB: number; walltimeSec: number },
): { wall: UsagePair[]; memory: UsagePair[] };
export function requestedVsUsed(
  pairs: UsagePair[],
  bins?: number,
): { edges: number[]; used: number[]; requested: number[] };
export interface HistogramLike {
  bins: number;
  low: number;
  high: number;
  counts: number[];
  entries?: number;
}
export function isHistogram(h: unknown): h is HistogramLike;
export function sumHistograms(histograms: HistogramLike[]): {
  bins: number;
  low: number;
  high: number;
  counts: number[];
  entries: number;
  parts: number;
};
export function progressSegments(
  counts: Record<string, number>,
  states?: string[],
): { state: string; count: number; percent: number }[];
