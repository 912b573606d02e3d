import type { RangeReport, ReportRangesRequest, ReportRangesResponse } from '../api/event-ranges.ts';
import type { Deps, Principal } from '../deps.ts';
import { ConflictError, type FieldIssue, NotFoundError, PilotGoneError, ValidationError } from '../errors.ts';
import { attemptKey } from '../jobs/job.ts';
import { isLivePilotState } from '../pilots/pilot.ts';
import { pilotSiteOf } from '../pilots/pilot-access.ts';
import { isFinalTaskState } from '../tasks/task.ts';
import type { TaskSpec } from '../tasks/task-spec.ts';
import { type RangeRecord, rangeAt, rangeCount } from './event-range.ts';
import type { RangeExpectation, RangeWrite } from './ports.ts';
import { deriveRangeCounts, rangesRemaining } from './range-counts.ts';

const ANY_ATTEMPT = Number.MAX_SAFE_INTEGER;
const ERROR_MAX = 500;

/**
 * A consumer's batch of range reports: one conditional write per range, no transaction, no read
 * first. The write is fenced on the range's state and attempt, so a replayed report, a zombie
 * consumer or two consumers racing on one range can never count a range twice or undo a final
 * state; the counters follow from the change feed, once per change. A failed range is retried
 * by the change feed until `maxRangeAttempts`, then written `fatal`.
 */
export async function reportRanges(
  deps: Pick<Deps, 'tasks' | 'leases' | 'ranges' | 'clock'>,
  principal: Principal,
  pilotId: string,
  request: ReportRangesRequest,
): Promise<ReportRangesResponse> {
  const [lease, head, spec] = await Promise.all([
    deps.leases.get(pilotId),
    deps.tasks.getHead(request.taskId),
    deps.tasks.getSpec(request.taskId),
  ]);
  if (lease === undefined || !isLivePilotState(lease.state))
    throw new PilotGoneError(`pilot ${pilotId} is unknown or gone; register again`);
  const siteId = pilotSiteOf(principal);
  if (siteId !== undefined && lease.siteId !== siteId)
    throw new ConflictError(`this pilot token is for site ${siteId}, not ${lease.siteId}`);
  if (head === undefined || spec === undefined) throw new NotFoundError(`task ${request.taskId} not found`);
  const es = spec.eventService;
  if (es === undefined) throw new ConflictError(`task ${request.taskId} is not an event-service task`);
  if (request.jobIndex >= es.consumers || !lease.jobs.includes(attemptKey(request))) {
    throw new ConflictError(
      `pilot ${pilotId} does not hold attempt ${request.attempt} of consumer job ${request.jobIndex} of task ${request.taskId}`,
    );
  }
  assertRangesOfTask(spec, request.ranges);

  const cancelled = head.cancelRequested || isFinalTaskState(head.state);
  const outcomes: ReportRangesResponse['outcomes'] = [];
  if (!cancelled && request.ranges.length > 0) {
    const at = deps.clock.now().toISOString();
    const writes = request.ranges.map((r) => rangeWrite(request, r, pilotId, es.maxRangeAttempts, at));
    const answers = await deps.ranges.write(writes);
    const conflicts = writes.filter((_, i) => answers[i] === 'conflict');
    const current = new Map(
      (conflicts.length === 0
        ? []
        : await deps.ranges.getMany(
            request.taskId,
            conflicts.map((w) => w.record.rangeIndex),
          )
      ).map((r) => [r.rangeIndex, r]),
    );
    writes.forEach((w, i) => {
      const rangeIndex = w.record.rangeIndex;
      if (answers[i] === 'ok') {
        outcomes.push({ rangeIndex, outcome: 'recorded', state: w.record.state });
        return;
      }
      const now = current.get(rangeIndex);
      const same = now !== undefined && isSameChange(now, w.record);
      outcomes.push({
        rangeIndex,
        outcome: same ? 'duplicate' : 'stale',
        ...(now === undefined ? {} : { state: now.state }),
      });
    });
  }
  const progress = await deps.tasks.getProgress(request.taskId);
  const counts = deriveRangeCounts(
    { rangeCount: head.rangeCount ?? 0, events: head.events ?? 0 },
    progress?.rangeCounters ?? {
      recorded: 0,
      running: 0,
      finished: 0,
      failed: 0,
      fatal: 0,
      eventsFinished: 0,
    },
  );
  return { outcomes, remaining: rangesRemaining(counts), cancelled };
}

/** Each reported range must be one of the task's, with the events the split gave it. */
function assertRangesOfTask(spec: TaskSpec, ranges: RangeReport[]): void {
  const issues: FieldIssue[] = [];
  let total: number | undefined;
  ranges.forEach((r, i) => {
    let expected: ReturnType<typeof rangeAt>;
    try {
      expected = rangeAt(spec, r.rangeIndex);
    } catch {
      total ??= rangeCount(spec);
      issues.push({ field: `ranges.${i}.rangeIndex`, message: `the task has ranges 0..${total - 1}` });
      return;
    }
    if (expected.firstEvent !== r.firstEvent)
      issues.push({
        field: `ranges.${i}.firstEvent`,
        message: `range ${r.rangeIndex} starts at ${expected.firstEvent}`,
      });
    if (expected.nEvents !== r.nEvents)
      issues.push({
        field: `ranges.${i}.nEvents`,
        message: `range ${r.rangeIndex} has ${expected.nEvents} events`,
      });
    if (expected.file !== r.file)
      issues.push({
        field: `ranges.${i}.file`,
        message: `range ${r.rangeIndex} is in ${expected.file ?? 'no file'}`,
      });
  });
  if (issues.length > 0) throw new ValidationError('range report does not match the task', issues);
}

/**
 * The write a report makes, and what it must find. A finished range counts whichever attempt
 * did it (the work is done); a failure or a `running` note counts only for the attempt the
 * record is at, or a later one. Finished and fatal are never left.
 */
export function rangeWrite(
  consumer: { taskId: string; jobIndex: number },
  report: RangeReport,
  pilotId: string,
  maxRangeAttempts: number,
  at: string,
): RangeWrite {
  const base = {
    taskId: consumer.taskId,
    rangeIndex: report.rangeIndex,
    firstEvent: report.firstEvent,
    nEvents: report.nEvents,
    ...(report.file === undefined ? {} : { file: report.file }),
    attempt: report.attempt,
    pilotId,
    jobIndex: consumer.jobIndex,
    ...(report.wallTimeSec === undefined ? {} : { wallTimeSec: report.wallTimeSec }),
    updatedAt: at,
  };
  let record: RangeRecord;
  let expected: RangeExpectation[];
  if (report.state === 'finished') {
    record = {
      ...base,
      state: 'finished',
      ...(report.output === undefined ? {} : { output: report.output }),
    };
    expected = [
      'absent',
      { state: 'running', attemptAtMost: ANY_ATTEMPT },
      { state: 'failed', attemptAtMost: ANY_ATTEMPT },
    ];
  } else if (report.state === 'failed') {
    const fatal = report.attempt >= maxRangeAttempts;
    const error = (report.error ?? '').slice(0, ERROR_MAX);
    record = {
      ...base,
      state: fatal ? 'fatal' : 'failed',
      ...(report.errorCode === undefined ? {} : { errorCode: report.errorCode }),
      error: fatal ? `failed ${report.attempt} times; the last time: ${error}`.slice(0, ERROR_MAX) : error,
    };
    expected = [
      'absent',
      { state: 'running', attemptAtMost: report.attempt },
      { state: 'failed', attemptAtMost: report.attempt - 1 },
    ];
  } else {
    record = { ...base, state: 'running' };
    expected = [
      'absent',
      { state: 'running', attemptAtMost: report.attempt - 1 },
      { state: 'failed', attemptAtMost: report.attempt - 1 },
    ];
  }
  return { record, expected };
}

/** A refused write that finds its own change already there is a replay. */
function isSameChange(now: RangeRecord, wanted: RangeRecord): boolean {
  if (now.state !== wanted.state) return false;
  if (now.state === 'finished') return true;
  return now.attempt === wanted.attempt;
}
