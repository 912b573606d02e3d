/** The change feed of the ranges table (see change-feed.ts): it keeps the range counters. */
import type { RangeRecord } from '#core/event-ranges/event-range.ts';
import type { RangeRecordChange } from '#core/event-ranges/ports.ts';
import { changesOf, type StreamEvent } from './change-feed.ts';

export type RangeStreamEvent = StreamEvent;

/** The changes of one batch, in stream order; a malformed event is refused with its fields named. */
export function rangeChangesOf(event: unknown): RangeRecordChange[] {
  return changesOf<RangeRecord>(event, 'range');
}
