import { ValidationError } from '../errors.ts';

/** Jobs chosen by index: indexes and inclusive ranges separated by commas, e.g. `3,7-9`. */
export const JOB_SELECTION = /^\d+(-\d+)?(,\d+(-\d+)?)*$/;

/** The job states a resubmit may take every job of (`--state`); failed is the default. */
export const RESUBMIT_STATES = ['failed', 'cancelled'] as const;
export type ResubmitState = (typeof RESUBMIT_STATES)[number];

/**
 * At most this many jobs chosen by index in one resubmit: the request reads each one's record to
 * refuse jobs that are not ended. Larger selections go by state, which the workflow pages through.
 */
export const MAX_CHOSEN_JOBS = 5000;

/** An inclusive range of job indexes. */
export type JobRange = readonly [first: number, last: number];

function invalid(message: string): ValidationError {
  return new ValidationError('invalid job selection', [{ field: 'jobs', message }]);
}

/**
 * `3,7-9,8` → [[3,3],[7,9]]: sorted, overlaps and neighbours merged. Every index must be a job of
 * the task (below `jobCount`), a range must not run backwards, and at most MAX_CHOSEN_JOBS jobs
 * may be chosen; each refusal is a ValidationError naming `jobs`.
 */
export function parseJobSelection(text: string, jobCount: number): JobRange[] {
  const trimmed = text.replace(/\s+/g, '');
  if (!JOB_SELECTION.test(trimmed)) throw invalid('job indexes and ranges separated by commas, e.g. 3,7-9');
  const ranges: Array<[number, number]> = [];
  for (const part of trimmed.split(',')) {
    const [first, last = first] = part.split('-').map(Number) as [number, number?];
    if (!Number.isSafeInteger(first) || !Number.isSafeInteger(last)) throw invalid(`${part} is too large`);
    if (last < first) throw invalid(`${part} runs backwards`);
    if (last >= jobCount) {
      throw invalid(
        `job ${last} does not exist: the task has ${jobCount} job${jobCount === 1 ? '' : 's'} (0-${jobCount - 1})`,
      );
    }
    ranges.push([first, last]);
  }
  ranges.sort((a, b) => a[0] - b[0]);
  const merged: Array<[number, number]> = [];
  for (const range of ranges) {
    const previous = merged.at(-1);
    if (previous !== undefined && range[0] <= previous[1] + 1) previous[1] = Math.max(previous[1], range[1]);
    else merged.push([range[0], range[1]]);
  }
  const size = selectionSize(merged);
  if (size > MAX_CHOSEN_JOBS) {
    throw invalid(
      `${size} jobs chosen; at most ${MAX_CHOSEN_JOBS} by index (resubmit by state for more: --state failed)`,
    );
  }
  return merged;
}

export function selectionSize(ranges: readonly JobRange[]): number {
  return ranges.reduce((n, [first, last]) => n + last - first + 1, 0);
}

/** [[3,3],[7,9]] → `3,7-9` (the form stored and shown). */
export function formatJobSelection(ranges: readonly JobRange[]): string {
  return ranges.map(([first, last]) => (first === last ? `${first}` : `${first}-${last}`)).join(',');
}

/** Every index of the selection, in order. */
export function* selectedIndexes(ranges: readonly JobRange[]): Generator<number> {
  for (const [first, last] of ranges) for (let i = first; i <= last; i++) yield i;
}
