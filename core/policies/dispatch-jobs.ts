import type { Deps } from '../deps.ts';
import { type JobMessage, jobMessage } from '../jobs/job-message.ts';
import { classesFitting } from '../jobs/resource-class.ts';
import { isPaidSite } from '../provisioning/cloud-site.ts';
import { maxQueuedOf, type SiteRecord } from '../sites/site.ts';
import { type DispatchCandidate, fairShareOrder, type Held, usageKeysOf } from './fair-share.ts';
import type { DispatchEntry } from './ports.ts';
import { DEFAULT_SHARE_TREE, decayedValue, type ShareTree, usageKey } from './shares.ts';
import { inFlightOf, readBudgetStanding } from './task-budget.ts';

/** Whether dispatch may send this task's jobs to the site now (brokerage may have chosen it earlier). */
export function siteTakes(site: SiteRecord, entry: Pick<DispatchEntry, 'siteTest'>): boolean {
  return entry.siteTest === true ? site.status === 'test' : site.status === 'online';
}

/**
 * The tasks of these entries that reached their budget (spent and expected): their jobs go to no
 * paid site. Only tasks with a budget are read (their cost total and progress).
 */
export async function tasksOverBudget(
  deps: Pick<Deps, 'accounting' | 'tasks'>,
  entries: readonly DispatchEntry[],
): Promise<Set<string>> {
  const over = new Set<string>();
  await Promise.all(
    entries.map(async (entry) => {
      const standing = await readBudgetStanding(deps, entry);
      if (standing?.overBudget === true) over.add(entry.taskId);
    }),
  );
  return over;
}

/**
 * The pure part of a round (the matchmaking order): given each site's room and the tasks that may
 * run there, the places given out one at a time, going round the sites, so a task's jobs spread
 * over its sites as they have room, and usage moves with every job chosen. `usage` and `inFlight`
 * are moved.
 */
export function planDispatch(input: {
  tree: ShareTree;
  usage: Map<string, number>;
  inFlight: Map<string, number>;
  rooms: Array<{ siteId: string; room: number; here: DispatchEntry[] }>;
}): {
  sequence: Array<{ taskId: string; siteId: string }>;
  placed: Map<string, string[]>;
  held: Held[];
} {
  const { tree, usage, inFlight } = input;
  const rooms = input.rooms.map((r) => ({ ...r }));
  const placed = new Map<string, string[]>();
  const sequence: Array<{ taskId: string; siteId: string }> = [];
  const held: Held[] = [];
  const remaining = (e: DispatchEntry) => e.jobCount - e.released - (placed.get(e.taskId)?.length ?? 0);
  while (rooms.some((r) => r.room > 0)) {
    for (const slot of rooms) {
      if (slot.room <= 0) continue;
      const candidates: DispatchCandidate[] = slot.here.map((e) => ({
        taskId: e.taskId,
        owner: e.owner,
        priority: e.priority,
        createdAt: e.createdAt,
        remaining: remaining(e),
        cores: e.cores,
      }));
      const order = fairShareOrder({ tree, candidates, room: 1, usage, inFlight });
      for (const h of order.held) if (!held.some((k) => k.key === h.key)) held.push(h);
      const chosen = order.allocations[0]?.taskId;
      if (chosen === undefined) {
        slot.room = 0;
        continue;
      }
      slot.room--;
      sequence.push({ taskId: chosen, siteId: slot.siteId });
      const list = placed.get(chosen);
      if (list === undefined) placed.set(chosen, [slot.siteId]);
      else list.push(slot.siteId);
    }
  }
  return { sequence, placed, held };
}

export interface DispatchReport {
  /** Rounds run (0: another round held the lock, and was asked for one more). */
  rounds: number;
  /** Tasks with open jobs over their budget: this round gave them no place at a paid site. */
  overBudget: string[];
  /** Jobs released to site queues, by site. */
  released: Record<string, number>;
  /** Tasks in dispatch (until they end: their jobs in flight count against caps), and those fully released by this round. */
  active: number;
  completed: number;
  /** Users or groups at their cap. */
  held: Held[];
  /** Job messages waiting in each site's queues, as this round read them (sites with work to place). */
  depths: Record<string, number>;
}

/** How long a round holds the dispatch lock at most: far longer than a round takes. */
const LOCK_MS = 60_000;
/** Rounds one holder runs in a row at most (each asked for by a round that found the lock busy). */
const MAX_ROUNDS = 5;

/**
 * Dispatch (PanDA's activation with its JobThrottler): each site's queues are topped up to their
 * target, and the places are given out in fair-share order over the tasks that may run there.
 * Nothing else sends a first attempt. The order is live: priorities, shares and usage are read at
 * every round, and only a bounded number of jobs per site ever waits in a queue. One round runs
 * at a time (the dispatch lock): a round that finds another running asks it for one more round
 * and returns, so many tasks split at once make one round after another, not duplicate messages.
 */
export async function dispatchJobs(deps: DispatchDeps): Promise<DispatchReport> {
  const holder = globalThis.crypto.randomUUID();
  const lockUntil = () => deps.clock.now().getTime() + LOCK_MS;
  const now = deps.clock.now().getTime();
  if ((await deps.policies.acquireDispatch(holder, now, lockUntil())) === 'busy')
    return { rounds: 0, overBudget: [], released: {}, active: 0, completed: 0, held: [], depths: {} };
  let report: DispatchReport | undefined;
  try {
    for (let round = 1; ; round++) {
      const next = await dispatchRound(deps);
      report = report === undefined ? next : sumOf(report, next);
      // The last round allowed lets go whatever was asked: the next scheduled round serves it.
      const until = round >= MAX_ROUNDS ? 0 : lockUntil();
      if ((await deps.policies.releaseDispatch(holder, until)) === 'released' || round >= MAX_ROUNDS)
        return report;
    }
  } catch (error) {
    // Let go at once (an expired lock is free), so a failed round does not hold dispatch back.
    await deps.policies.releaseDispatch(holder, 0).catch(() => undefined);
    throw error;
  }
}

type DispatchDeps = Pick<Deps, 'policies' | 'tasks' | 'sites' | 'queue' | 'clock' | 'accounting'>;

function sumOf(a: DispatchReport, b: DispatchReport): DispatchReport {
  const released = { ...a.released };
  for (const [siteId, n] of Object.entries(b.released)) released[siteId] = (released[siteId] ?? 0) + n;
  return {
    rounds: a.rounds + b.rounds,
    overBudget: b.overBudget,
    released,
    active: b.active,
    completed: a.completed + b.completed,
    held: b.held,
    depths: { ...a.depths, ...b.depths },
  };
}

/**
 * One round, under the lock: a round sends, then moves each task's release cursor fenced on where
 * it was, so a round that still overlaps another (a lock that expired) or dies between the two has
 * only sent duplicates, which claims answer `stale`.
 */
async function dispatchRound(deps: DispatchDeps): Promise<DispatchReport> {
  const entries = await deps.policies.listActive();
  const report: DispatchReport = {
    rounds: 1,
    overBudget: [],
    released: {},
    active: entries.length,
    completed: 0,
    held: [],
    depths: {},
  };
  if (entries.length === 0) return report;
  const now = deps.clock.now();
  const [stored, storedUsage, sites] = await Promise.all([
    deps.policies.getShares(),
    deps.policies.usage(),
    deps.sites.list(),
  ]);
  const tree = stored?.tree ?? DEFAULT_SHARE_TREE;
  const usage = new Map<string, number>();
  for (const [key, value] of storedUsage)
    usage.set(key, decayedValue(value, now.getTime(), tree.halfLifeSec));
  const usageBefore = new Map(usage);
  const inFlight = await jobsInFlight(deps, tree, entries);

  const open = entries.filter((e) => e.paused !== true && e.released < e.jobCount);
  const wanted = new Set(open.flatMap((e) => e.siteIds));
  // Tasks over budget keep their free sites only (their paid sites are read as sites the task lacks).
  const overBudget = await tasksOverBudget(deps, open);
  report.overBudget = [...overBudget].sort();
  // Each site with room, and the tasks that may run there.
  const rooms = (
    await Promise.all(
      sites
        .filter((s) => wanted.has(s.siteId))
        .map(async (site) => {
          const paid = isPaidSite(site);
          const here = open.filter(
            (e) =>
              e.siteIds.includes(site.siteId) && siteTakes(site, e) && !(paid && overBudget.has(e.taskId)),
          );
          if (here.length === 0) return undefined;
          // The queues of the classes the site's slots can run: no job of another class is sent there.
          const depth = await deps.queue.depth(site.siteId, classesFitting(site.slot));
          report.depths[site.siteId] = depth;
          const room = maxQueuedOf(site) - depth;
          return room > 0 ? { siteId: site.siteId, room, here } : undefined;
        }),
    )
  ).filter((r) => r !== undefined);
  const { sequence, placed, held } = planDispatch({ tree, usage, inFlight, rooms });
  report.held.push(...held);

  // Messages go out in the order places were given (the queues are first in, first out); then
  // each task's cursor moves, fenced on where this round found it.
  const at = now.toISOString();
  const next = new Map(open.map((e) => [e.taskId, e.released]));
  const byTask = new Map(open.map((e) => [e.taskId, e]));
  const messages: JobMessage[] = sequence.map(({ taskId, siteId }) => {
    const jobIndex = next.get(taskId) ?? 0;
    next.set(taskId, jobIndex + 1);
    const entry = byTask.get(taskId) as DispatchEntry;
    return jobMessage({ taskId, jobIndex, attempt: 1 }, siteId, now.getTime(), entry);
  });
  if (messages.length > 0) await deps.queue.send(messages);
  const lost = new Map<string, number>();
  await Promise.all(
    open.map(async (entry) => {
      const places = placed.get(entry.taskId);
      if (places === undefined) return;
      const jobIndex = entry.released + places.length;
      if ((await deps.policies.advance(entry.taskId, entry.released, jobIndex)) === 'conflict') {
        // Another round released these jobs first: what was sent here are duplicates, and not usage.
        for (const key of usageKeysOf(tree, entry.owner))
          lost.set(key, (lost.get(key) ?? 0) + places.length * entry.cores);
        return;
      }
      for (const siteId of places) report.released[siteId] = (report.released[siteId] ?? 0) + 1;
      await deps.tasks.recordEnqueued(entry.taskId, jobIndex, at);
      if (jobIndex >= entry.jobCount) report.completed++;
    }),
  );
  const changed = [...usage].filter(([key, value]) => value !== usageBefore.get(key));
  if (changed.length > 0) {
    await deps.policies.putUsage(
      changed.map(([key, value]) => ({
        key,
        value: Math.max(0, value - (lost.get(key) ?? 0)),
        at: now.getTime(),
      })),
    );
  }
  return report;
}

/** The caps of the share tree, by usage key. */
function capsOf(tree: ShareTree): Array<{ key: string; cap: number }> {
  return [
    ...tree.groups.flatMap((g) => (g.cap === undefined ? [] : [{ key: usageKey.group(g.name), cap: g.cap }])),
    ...tree.users.flatMap((u) => (u.cap === undefined ? [] : [{ key: usageKey.user(u.user), cap: u.cap }])),
  ];
}

/** Users and groups at their cap now (for `gluon why`): what a dispatch round would hold back. */
export async function heldAtCaps(
  deps: Pick<Deps, 'policies' | 'tasks'>,
  shares: { tree: ShareTree },
): Promise<Held[]> {
  const { tree } = shares;
  const inFlight = await jobsInFlight(deps, tree, await deps.policies.listActive());
  return capsOf(tree)
    .filter(({ key, cap }) => (inFlight.get(key) ?? 0) >= cap)
    .map(({ key, cap }) => ({ key, reason: 'cap' as const, cap }));
}

/**
 * Jobs queued or running per user and group, for their caps: released jobs not yet final, read
 * from the counters of the tasks of capped users and groups only (no read when nobody is capped).
 */
async function jobsInFlight(
  deps: Pick<Deps, 'tasks'>,
  tree: ShareTree,
  entries: readonly DispatchEntry[],
): Promise<Map<string, number>> {
  const inFlight = new Map<string, number>();
  const cappedKeys = new Set(capsOf(tree).map((c) => c.key));
  if (cappedKeys.size === 0) return inFlight;
  await Promise.all(
    entries.map(async (entry) => {
      const keys = usageKeysOf(tree, entry.owner);
      if (!keys.some((k) => cappedKeys.has(k))) return;
      const progress = await deps.tasks.getProgress(entry.taskId);
      if (progress === undefined) return;
      const flying = inFlightOf(entry.released, progress.counts);
      for (const key of keys) inFlight.set(key, (inFlight.get(key) ?? 0) + flying);
    }),
  );
  return inFlight;
}
