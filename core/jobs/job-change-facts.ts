import type { AttemptEndState } from './job.ts';
import type { JobRecordChange } from './ports.ts';

/** What a batch of the jobs' change feed says happened, for the operators' metrics. */
export interface JobChangeFacts {
  /** Attempts that started running. */
  started: number;
  /** Attempts that ended, by how they ended. */
  ended: Partial<Record<AttemptEndState, number>>;
  /** Ended attempts whose job was queued again, by the pilot error code they ended with. */
  retried: Record<string, number>;
}

/**
 * Counts what changed: each change is one write, so an attempt that started or ended counts once
 * whichever path wrote it (a claim, a report, a claim carrying a report, the reaper). A batch the
 * feed delivers again counts again: these are operators' rates, not the books.
 */
export function jobChangeFacts(changes: readonly JobRecordChange[]): JobChangeFacts {
  const facts: JobChangeFacts = { started: 0, ended: {}, retried: {} };
  for (const { before, after } of changes) {
    if (after === undefined) continue;
    const started =
      after.state === 'running' &&
      (before === undefined || before.state !== 'running' || before.attempt !== after.attempt);
    if (started) facts.started++;
    const ended = after.ended;
    if (ended === undefined || before?.ended?.attempt === ended.attempt) continue;
    facts.ended[ended.state] = (facts.ended[ended.state] ?? 0) + 1;
    if (after.state === 'queued') {
      const code = String(ended.pilotErrorCode);
      facts.retried[code] = (facts.retried[code] ?? 0) + 1;
    }
  }
  return facts;
}
