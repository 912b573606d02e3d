/**
 * Event ranges: the unit of work of an event-service task. A range is a contiguous run of events
 * of one generated stream or of one input file. Like jobs, ranges are never materialised: a
 * range's parameters follow from the immutable spec and its index alone, and are fixed once, in
 * the range message sent at enqueue. A range gets its record when a pilot first reports it.
 */
import { z } from 'zod';
import { TaskIdSchema } from '../api/common.ts';
import { fieldIssues, ValidationError } from '../errors.ts';
import { specFiles, type TaskSpec } from '../tasks/task-spec.ts';

/** `ready` (no record, or a failed attempt whose retry is queued), `running` (long ranges only), then final. */
export const RANGE_STATES = ['ready', 'running', 'finished', 'failed', 'fatal'] as const;
export type RangeState = (typeof RANGE_STATES)[number];
export type RecordedRangeState = Exclude<RangeState, 'ready'>;
export const FINAL_RANGE_STATES: ReadonlySet<RangeState> = new Set(['finished', 'fatal']);

export function isFinalRangeState(state: RangeState): boolean {
  return FINAL_RANGE_STATES.has(state);
}

/** What a range covers: events [firstEvent, firstEvent + nEvents) of the stream, or of `file`. */
export interface RangeParameters {
  rangeIndex: number;
  firstEvent: number;
  nEvents: number;
  /** Processing tasks: the input file the events are in (its name as in the spec). */
  file?: string;
}

export const RangeOutputSchema = z.strictObject({
  key: z.string().min(1).max(1024),
  bytes: z.number().int().nonnegative(),
  adler32: z.string().regex(/^[0-9a-f]{8}$/, '8 lower-case hex digits'),
});
export type RangeOutput = z.infer<typeof RangeOutputSchema>;

/** A range's record (< 1 KB): written at its first report, then conditionally at each change. */
export interface RangeRecord extends RangeParameters {
  taskId: string;
  state: RecordedRangeState;
  /** The attempt this state belongs to (1 + failed attempts before it). */
  attempt: number;
  pilotId?: string;
  /** The consumer job that reported it. */
  jobIndex?: number;
  output?: RangeOutput;
  /** Why the last attempt failed (pilot error code and message), or why the range is fatal. */
  errorCode?: number;
  error?: string;
  wallTimeSec?: number;
  updatedAt: string;
}

// ---- splitting ---------------------------------------------------------------------------------

type EventServiceSpec = NonNullable<TaskSpec['eventService']>;

function esOf(spec: TaskSpec): EventServiceSpec {
  if (spec.eventService === undefined) throw new RangeError('not an event-service task');
  return spec.eventService;
}

/** Events of each input file, in spec order (a processing task's files all give `events`). */
function fileEvents(spec: TaskSpec): Array<{ name: string; events: number }> {
  return specFiles(spec).map((f) =>
    typeof f === 'string' ? { name: f, events: 0 } : { name: f.name, events: f.events ?? 0 },
  );
}

/** Cumulative range counts per file, cached per spec object (specs are immutable). */
const fileRangeStarts = new WeakMap<TaskSpec, number[]>();
function rangeStarts(spec: TaskSpec): number[] {
  let starts = fileRangeStarts.get(spec);
  if (starts === undefined) {
    const size = esOf(spec).rangeSize;
    starts = [0];
    for (const f of fileEvents(spec)) starts.push((starts.at(-1) as number) + Math.ceil(f.events / size));
    fileRangeStarts.set(spec, starts);
  }
  return starts;
}

/** Number of event ranges of an event-service task. */
export function rangeCount(spec: TaskSpec): number {
  const es = esOf(spec);
  if (spec.events !== undefined) return Math.ceil(spec.events / es.rangeSize);
  return rangeStarts(spec).at(-1) as number;
}

/** Events of the whole task. */
export function taskEvents(spec: TaskSpec): number {
  if (spec.events !== undefined) return spec.events;
  return fileEvents(spec).reduce((n, f) => n + f.events, 0);
}

/** The parameters of range `rangeIndex` (0-based). */
export function rangeAt(spec: TaskSpec, rangeIndex: number): RangeParameters {
  const es = esOf(spec);
  const total = rangeCount(spec);
  if (!Number.isInteger(rangeIndex) || rangeIndex < 0 || rangeIndex >= total) {
    throw new RangeError(`range index ${rangeIndex} outside 0..${total - 1}`);
  }
  if (spec.events !== undefined) {
    const firstEvent = rangeIndex * es.rangeSize;
    return { rangeIndex, firstEvent, nEvents: Math.min(es.rangeSize, spec.events - firstEvent) };
  }
  const starts = rangeStarts(spec);
  // Binary search: the file whose ranges hold rangeIndex.
  let lo = 0;
  let hi = starts.length - 2;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((starts[mid] as number) <= rangeIndex) lo = mid;
    else hi = mid - 1;
  }
  const file = fileEvents(spec)[lo] as { name: string; events: number };
  const firstEvent = (rangeIndex - (starts[lo] as number)) * es.rangeSize;
  return {
    rangeIndex,
    firstEvent,
    nEvents: Math.min(es.rangeSize, file.events - firstEvent),
    file: file.name,
  };
}

// ---- the range message -------------------------------------------------------------------------

/** One range in a message: index, attempt, first event, number of events, and the file if any. */
export const MessageRangeSchema = z.strictObject({
  i: z.number().int().nonnegative(),
  a: z.number().int().min(1),
  first: z.number().int().nonnegative(),
  n: z.number().int().min(1),
  file: z.string().min(1).max(1024).optional(),
});
export type MessageRange = z.infer<typeof MessageRangeSchema>;

/**
 * The body of a message in a task's event-range queue: several ranges travel together, so a
 * consumer gets many per receive and SQS requests per range stay far below one. Versioned; a
 * message that does not parse is never acknowledged, so it ends in the queue's DLQ.
 */
export const RangeMessageSchema = z.strictObject({
  v: z.literal(1),
  taskId: TaskIdSchema,
  ranges: z.array(MessageRangeSchema).min(1).max(100),
});
export type RangeMessage = z.infer<typeof RangeMessageSchema>;

export function messageRange(parameters: RangeParameters, attempt: number): MessageRange {
  return {
    i: parameters.rangeIndex,
    a: attempt,
    first: parameters.firstEvent,
    n: parameters.nEvents,
    ...(parameters.file === undefined ? {} : { file: parameters.file }),
  };
}

export function rangeOfMessage(range: MessageRange): RangeParameters & { attempt: number } {
  return {
    rangeIndex: range.i,
    attempt: range.a,
    firstEvent: range.first,
    nEvents: range.n,
    ...(range.file === undefined ? {} : { file: range.file }),
  };
}

/** Messages of consecutive ranges, `perMessage` ranges each. */
export function rangeMessages(
  taskId: string,
  ranges: Array<RangeParameters & { attempt: number }>,
  perMessage: number,
): RangeMessage[] {
  const messages: RangeMessage[] = [];
  for (let i = 0; i < ranges.length; i += perMessage) {
    messages.push({
      v: 1,
      taskId,
      ranges: ranges.slice(i, i + perMessage).map((r) => messageRange(r, r.attempt)),
    });
  }
  return messages;
}

export function parseRangeMessage(body: string): RangeMessage {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw new ValidationError('malformed range message', [{ field: 'body', message: 'not JSON' }]);
  }
  const result = RangeMessageSchema.safeParse(value);
  if (!result.success)
    throw new ValidationError('malformed range message', fieldIssues(result.error.issues, 'body'));
  return result.data;
}
