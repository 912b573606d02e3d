import { endedAttemptOf } from '../jobs/ended-attempt.ts';
import type { JobRecordChange } from '../jobs/ports.ts';
import { PILOT_ERROR_CODES, type PilotErrorCode } from '../pilots/pilot-error-codes.ts';

/**
 * How attempts ended at a site, for site health: finished, failed for the user's reasons, or failed
 * for the site's (infrastructure). A pilot that failed its node checks at registration counts as
 * an infrastructure failure too, though it ran no attempt.
 */
export const OUTCOME_KINDS = [
  'finished',
  'userFailed',
  'stageIn',
  'pilotLost',
  'claimAbandoned',
  'workdir',
  'nodeChecks',
] as const;
export type OutcomeKind = (typeof OUTCOME_KINDS)[number];
export type OutcomeCounts = Record<OutcomeKind, number>;

/** The infrastructure kinds, with the words `gluon site` and the reasons use for them. */
export const INFRA_KINDS = {
  stageIn: 'stage-in',
  pilotLost: 'lost heartbeat',
  claimAbandoned: 'claim abandoned',
  workdir: 'work directory',
  nodeChecks: 'node checks',
} as const satisfies Partial<Record<OutcomeKind, string>>;

/** Outcomes are counted in buckets of this many seconds, so a window can slide over them. */
export const OUTCOME_BUCKET_SEC = 300;
/**
 * Buckets kept: site health's window (an hour) and the bucket it starts in. Kept short because the
 * outcome item is written once per change-feed batch and site, and a write costs by the item's size.
 */
export const OUTCOME_RETENTION_SEC = 3900;

const INFRA_CODES: ReadonlyMap<PilotErrorCode, OutcomeKind> = new Map([
  [PILOT_ERROR_CODES.STAGE_IN_FAILED, 'stageIn'],
  [PILOT_ERROR_CODES.PILOT_LOST, 'pilotLost'],
  [PILOT_ERROR_CODES.CLAIM_ABANDONED, 'claimAbandoned'],
  [PILOT_ERROR_CODES.WORKDIR_FAILED, 'workdir'],
]);

/**
 * Ends that say nothing of the site: an eviction (the batch system or spot market took the slot
 * back), a lease lost to another attempt, a consumer stopped with ranges left, a kill by the owner.
 */
const NEUTRAL_CODES: ReadonlySet<PilotErrorCode> = new Set([
  PILOT_ERROR_CODES.EVICTED,
  PILOT_ERROR_CODES.LEASE_LOST,
  PILOT_ERROR_CODES.CONSUMER_STOPPED,
  PILOT_ERROR_CODES.CANCELLED,
]);

/** The kind of an attempt's end by its pilot error code; undefined for ends that are not counted. */
export function outcomeOf(code: PilotErrorCode): OutcomeKind | undefined {
  if (code === PILOT_ERROR_CODES.OK) return 'finished';
  if (NEUTRAL_CODES.has(code)) return undefined;
  return INFRA_CODES.get(code) ?? 'userFailed';
}

export function emptyOutcomes(): OutcomeCounts {
  return {
    finished: 0,
    userFailed: 0,
    stageIn: 0,
    pilotLost: 0,
    claimAbandoned: 0,
    workdir: 0,
    nodeChecks: 0,
  };
}

export function infraFailures(counts: OutcomeCounts): number {
  return (Object.keys(INFRA_KINDS) as OutcomeKind[]).reduce((n, kind) => n + counts[kind], 0);
}

export function totalOutcomes(counts: OutcomeCounts): number {
  return OUTCOME_KINDS.reduce((n, kind) => n + counts[kind], 0);
}

/** The start of the bucket holding `at`, as an ISO time (buckets sort as strings). */
export function bucketOf(at: string | Date): string {
  const ms = typeof at === 'string' ? Date.parse(at) : at.getTime();
  const size = OUTCOME_BUCKET_SEC * 1000;
  return new Date(Math.floor(ms / size) * size).toISOString();
}

/** The oldest time kept in the buckets, seen from `now`. */
export function outcomesKeptFrom(now: Date): string {
  return new Date(now.getTime() - OUTCOME_RETENTION_SEC * 1000).toISOString();
}

/** One counted end, as a change feed gives it: its position in the feed, when and where. */
export interface OutcomeEntry {
  seq: string;
  at: string;
  bucket: string;
  kind: OutcomeKind;
}

/**
 * The recent outcomes of one site, since its last status change (`since`; a status change starts
 * them again, so an old failure cannot send a site back to test): counts by bucket start.
 */
export interface SiteOutcomes {
  since?: string;
  buckets: Record<string, Partial<OutcomeCounts>>;
}

/** The counts of the buckets that start at or after `from`. */
export function outcomesFrom(outcomes: SiteOutcomes | undefined, from: string): OutcomeCounts {
  const sum = emptyOutcomes();
  for (const [bucket, counts] of Object.entries(outcomes?.buckets ?? {})) {
    if (bucket < from) continue;
    for (const kind of OUTCOME_KINDS) sum[kind] += counts[kind] ?? 0;
  }
  return sum;
}

/** An attempt's end seen in a change of a job record: at which site, when, with what code. */
interface AttemptEnd {
  siteId: string;
  at: string;
  code: PilotErrorCode;
}

/**
 * The attempt a change ended, if any: a retried attempt (`ended` newly set on a record queued
 * again) or the last attempt of a job that became final (a job cancelled before any pilot ran it
 * ended no attempt).
 */
export function attemptEndOf(change: JobRecordChange): AttemptEnd | undefined {
  const ended = endedAttemptOf(change)?.attempt;
  if (ended === undefined) return undefined;
  return { siteId: ended.siteId, at: ended.endedAt, code: ended.pilotErrorCode };
}

/**
 * The counted ends of a batch of changes, per site and feed, in feed order; ends older than
 * `keptFrom` are left out (their buckets are gone).
 */
export function outcomeEntriesOf(
  changes: JobRecordChange[],
  keptFrom: string,
): Map<string, { siteId: string; feed: string; entries: OutcomeEntry[] }> {
  const groups = new Map<string, { siteId: string; feed: string; entries: OutcomeEntry[] }>();
  for (const change of changes) {
    const end = attemptEndOf(change);
    if (end === undefined || end.at < keptFrom) continue;
    const kind = outcomeOf(end.code);
    if (kind === undefined) continue;
    const key = `${end.siteId}\u0000${change.feed}`;
    const group = groups.get(key) ?? { siteId: end.siteId, feed: change.feed, entries: [] };
    group.entries.push({ seq: change.seq, at: end.at, bucket: bucketOf(end.at), kind });
    groups.set(key, group);
  }
  return groups;
}

/**
 * Pilot ids remembered per site (to count each unhealthy pilot once when it retries its
 * registration); past this, they are counted unremembered: so many sick pilots have sent the site
 * to test anyway, and the item stays small.
 */
export const PILOTS_REMEMBERED_MAX = 100;

/**
 * A site's recent outcomes as they are stored: the counts by bucket since the last status change,
 * the last `seq` applied of each feed (with when it was written) and the unhealthy pilots counted.
 */
export interface OutcomeBook extends SiteOutcomes {
  feeds: Record<string, { lastSeq: string; at: string }>;
  pilots: Record<string, string>;
}

export function emptyOutcomeBook(): OutcomeBook {
  return { buckets: {}, feeds: {}, pilots: {} };
}

/** Stream sequence numbers are decimal strings of up to 40 digits: compared as numbers. */
export function compareSeq(a: string, b: string): number {
  const pa = a.padStart(48, '0');
  const pb = b.padStart(48, '0');
  return pa < pb ? -1 : pa > pb ? 1 : 0;
}

/** The book without what is older than `keepFrom`: buckets, feeds not written since, pilots of old buckets. */
function pruned(book: OutcomeBook, keepFrom: string): OutcomeBook {
  const keep = <V>(record: Record<string, V>, isKept: (value: V, key: string) => boolean) =>
    Object.fromEntries(Object.entries(record).filter(([key, value]) => isKept(value, key)));
  return {
    ...(book.since === undefined ? {} : { since: book.since }),
    buckets: keep(book.buckets, (_, bucket) => bucket >= keepFrom),
    feeds: keep(book.feeds, (feed) => feed.at >= keepFrom),
    pilots: keep(book.pilots, (bucket) => bucket >= keepFrom),
  };
}

/** Adds one end to its bucket unless it is older than what is kept or than the status change. */
function counted(
  book: OutcomeBook,
  entry: { at: string; bucket: string; kind: OutcomeKind },
  keepFrom: string,
): boolean {
  if (entry.bucket < keepFrom || (book.since !== undefined && entry.at < book.since)) return false;
  const counts = { ...book.buckets[entry.bucket] };
  counts[entry.kind] = (counts[entry.kind] ?? 0) + 1;
  book.buckets[entry.bucket] = counts;
  return true;
}

/**
 * The book with a feed's entries counted once each (those at or before the feed's last applied
 * seq are skipped), or undefined when nothing is new.
 */
export function bookOutcomes(
  book: OutcomeBook,
  feed: string,
  entries: OutcomeEntry[],
  options: { at: string; keepFrom: string },
): OutcomeBook | undefined {
  const next = pruned(book, options.keepFrom);
  let applied = next.feeds[feed]?.lastSeq;
  for (const entry of [...entries].sort((a, b) => compareSeq(a.seq, b.seq))) {
    if (applied !== undefined && compareSeq(entry.seq, applied) <= 0) continue;
    applied = entry.seq;
    counted(next, entry, options.keepFrom);
  }
  if (applied === undefined || applied === next.feeds[feed]?.lastSeq) return undefined;
  next.feeds[feed] = { lastSeq: applied, at: options.at };
  return next;
}

/** The book with an unhealthy pilot counted, or undefined when it was counted already (or is too old). */
export function bookUnhealthyPilot(
  book: OutcomeBook,
  pilotId: string,
  entry: { at: string; bucket: string },
  options: { keepFrom: string },
): OutcomeBook | undefined {
  const next = pruned(book, options.keepFrom);
  if (next.pilots[pilotId] !== undefined) return undefined;
  if (!counted(next, { ...entry, kind: 'nodeChecks' }, options.keepFrom)) return undefined;
  if (Object.keys(next.pilots).length < PILOTS_REMEMBERED_MAX) next.pilots[pilotId] = entry.bucket;
  return next;
}

/** The book after a status change: outcomes start again from `at` (feeds and pilots are kept). */
export function restartOutcomes(book: OutcomeBook, at: string): OutcomeBook {
  return { since: at, buckets: {}, feeds: book.feeds, pilots: book.pilots };
}
