/**
 * Which of a task's sites a job goes to, from its index and the shares brokerage stored: smooth
 * weighted round-robin (nginx's), whose cycle of Σshares positions gives each site exactly its
 * share, spread evenly, and is a pure function of the stored shares. A replayed page, a resume,
 * `gluon jobs` and a kill all find the same site for the same job.
 */
import type { TaskHead } from '../tasks/task.ts';

/** Cycles kept per process: one per distinct set of shares (a few per task in flight). */
const CACHED_CYCLES = 64;
const cycles = new Map<string, Uint16Array>();

/**
 * One cycle of smooth weighted round-robin: position p holds the index of the site that the p-th
 * job of each cycle goes to. Each step adds every site's share to its credit, picks the highest
 * credit (the lowest index on a tie) and takes the total from it.
 */
export function assignmentCycle(shares: readonly number[]): Uint16Array {
  const n = shares.length;
  const total = shares.reduce((a, b) => a + b, 0);
  const cycle = new Uint16Array(total);
  const credit = new Float64Array(n);
  for (let p = 0; p < total; p++) {
    let best = 0;
    for (let i = 0; i < n; i++) {
      credit[i] = (credit[i] as number) + (shares[i] as number);
      if ((credit[i] as number) > (credit[best] as number)) best = i;
    }
    credit[best] = (credit[best] as number) - total;
    cycle[p] = best;
  }
  return cycle;
}

/** The same shares array (one head read) finds its cycle without building its key again. */
const cyclesOfArrays = new WeakMap<readonly number[], Uint16Array>();

function cachedCycle(shares: readonly number[]): Uint16Array {
  const known = cyclesOfArrays.get(shares);
  if (known !== undefined) return known;
  const key = shares.join(',');
  let cycle = cycles.get(key);
  if (cycle === undefined) {
    cycle = assignmentCycle(shares);
    if (cycles.size >= CACHED_CYCLES) cycles.delete(cycles.keys().next().value as string);
    cycles.set(key, cycle);
  }
  cyclesOfArrays.set(shares, cycle);
  return cycle;
}

/**
 * The site of each job of a task (its first attempt), from its index: a function for a page of
 * jobs (the cycle is found once). Undefined for a task with no site. A task brokered without
 * shares (before weights were stored) has equal shares: plain round-robin by index.
 */
export function jobSites(
  head: Pick<TaskHead, 'siteIds' | 'siteShares'>,
): (jobIndex: number) => string | undefined {
  const { siteIds } = head;
  const shares = head.siteShares;
  if (shares === undefined || shares.length !== siteIds.length || shares.some((s) => !(s >= 1)))
    return (jobIndex) => siteIds[jobIndex % siteIds.length];
  const cycle = cachedCycle(shares);
  return (jobIndex) => siteIds[cycle[jobIndex % cycle.length] as number];
}

/** The site of one job (see jobSites). */
export function siteForJob(
  head: Pick<TaskHead, 'siteIds' | 'siteShares'>,
  jobIndex: number,
): string | undefined {
  return jobSites(head)(jobIndex);
}
