import type { Page } from '../api/common.ts';
import type { ListRangesQuery, RangeView } from '../api/event-ranges.ts';
import type { Deps, Principal } from '../deps.ts';
import { ConflictError, NotFoundError } from '../errors.ts';
import { parseIndexToken } from '../jobs/list-jobs.ts';
import { ownedTaskHead } from '../tasks/task-access.ts';
import { type RangeRecord, rangeAt } from './event-range.ts';

/** Records read per store call while looking for ranges in one state. */
const SCAN_BATCH = 1000;

/**
 * An event-service task's ranges in index order. Ranges without a record are `ready`, derived
 * from the spec. The page token is the next range index, so pages are stable while ranges move;
 * a page filtered by state may be short (it stops after a bounded scan) and still carry a token.
 */
export async function listRanges(
  deps: Pick<Deps, 'tasks' | 'ranges'>,
  principal: Principal,
  taskId: string,
  query: ListRangesQuery,
): Promise<Page<RangeView>> {
  const head = await ownedTaskHead(deps.tasks, principal, taskId);
  const spec = await deps.tasks.getSpec(taskId);
  if (spec === undefined) throw new NotFoundError(`task ${taskId} not found`);
  if (spec.eventService === undefined || head.rangeCount === undefined)
    throw new ConflictError(`task ${taskId} is not an event-service task: it has no event ranges`);
  const total = head.rangeCount;
  let index = parseIndexToken(query.nextToken);
  const items: RangeView[] = [];
  if (query.state !== undefined && query.state !== 'ready') {
    // Recorded states: the store filters, a bounded scan per page.
    const { records, next } = await deps.ranges.list(taskId, index, query.limit, query.state);
    return { items: records.map(recordView), ...(next === undefined ? {} : { nextToken: String(next) }) };
  }
  let scanned = 0;
  while (items.length < query.limit && index < total && scanned < SCAN_BATCH * 4) {
    const want = Math.min(SCAN_BATCH, total - index);
    const { records } = await deps.ranges.list(taskId, index, want);
    const byIndex = new Map(records.map((r) => [r.rangeIndex, r]));
    const until = Math.min(total, index + want);
    while (index < until && items.length < query.limit) {
      const record = byIndex.get(index);
      if (record !== undefined && query.state === undefined) items.push(recordView(record));
      if (record === undefined) items.push(readyView(rangeAt(spec, index)));
      index++;
      scanned++;
    }
  }
  return { items, ...(index < total ? { nextToken: String(index) } : {}) };
}

function readyView(r: ReturnType<typeof rangeAt>): RangeView {
  return {
    rangeIndex: r.rangeIndex,
    state: 'ready',
    attempt: 0,
    firstEvent: r.firstEvent,
    nEvents: r.nEvents,
    ...(r.file === undefined ? {} : { file: r.file }),
  };
}

export function recordView(r: RangeRecord): RangeView {
  const { taskId: _taskId, ...view } = r;
  return view;
}
