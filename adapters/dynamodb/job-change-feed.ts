/** The change feed of the jobs table (see change-feed.ts). */
import type { JobRecord } from '#core/jobs/job.ts';
import type { JobRecordChange } from '#core/jobs/ports.ts';
import { changesOf, type StreamEvent } from './change-feed.ts';

export type JobStreamEvent = StreamEvent;

/** The changes of one batch, in stream order; a malformed event is refused with its fields named. */
export function jobChangesOf(event: unknown): JobRecordChange[] {
  return changesOf<JobRecord>(event, 'job');
}
