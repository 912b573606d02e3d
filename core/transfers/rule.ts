import { z } from 'zod';
import { EndpointIdSchema, type Replica } from '../catalog/catalog.ts';
import { DidSchema } from '../catalog/did.ts';

/**
 * Replication rules (Rucio's rules): "keep `copies` replicas of every file of this dataset (or of
 * this file) on these storage endpoints". A rule holds one *lock* per file and chosen endpoint
 * (Rucio's replica locks); the transfer service makes the locks' replicas that are missing.
 */

export const RULE_STATES = ['replicating', 'ok', 'stuck', 'deleted'] as const;
/** `replicating`: transfers go on; `ok`: every lock's replica is available; `stuck`: some were given up; `deleted`: stopped. */
export type RuleState = (typeof RULE_STATES)[number];

/** `r-` then time-sortable base-36 (or `r-<taskId>` for a task's precondition rule). */
export const RuleIdSchema = z.string().regex(/^r-[0-9a-z-]{6,60}$/, 'a rule id such as r-mhx3k2a0q8…');

/** Rules keep at most this many copies of a file, on at most this many candidate endpoints. */
export const MAX_RULE_COPIES = 10;
export const MAX_RULE_ENDPOINTS = 20;

export const RuleRequestSchema = z.strictObject({
  did: DidSchema,
  copies: z.number().int().min(1).max(MAX_RULE_COPIES).default(1),
  /** The candidate endpoints, in order of preference. */
  endpoints: z
    .array(EndpointIdSchema)
    .min(1)
    .max(MAX_RULE_ENDPOINTS)
    .refine((e) => new Set(e).size === e.length, 'endpoints must be unique'),
  /** The rule expires after this long (it is kept until then; none: for ever). */
  lifetimeSec: z
    .number()
    .int()
    .min(60)
    .max(10 * 365 * 86_400)
    .optional(),
});
export type RuleRequest = z.input<typeof RuleRequestSchema>;

/**
 * Counts of the rule's locks (one per file and chosen endpoint, as Rucio counts them): with
 * `copies` 1 a lock is a file. `files` is the files the rule covers.
 */
export interface RuleCounters {
  files: number;
  available: number;
  copying: number;
  failed: number;
}

export interface Rule {
  ruleId: string;
  owner: string;
  /** `scope:name` of a dataset or a file. */
  did: string;
  didType: 'dataset' | 'file';
  copies: number;
  endpoints: string[];
  state: RuleState;
  counters: RuleCounters;
  /** The task whose input it stages (a precondition rule). */
  taskId?: string;
  createdAt: string;
  updatedAt: string;
  expiresAt?: string;
}

export const LOCK_STATES = ['copying', 'available', 'failed'] as const;
export type LockState = (typeof LOCK_STATES)[number];

/** One replica a rule wants: file `scope:name` at `endpointId`, and its transfer's attempts. */
export interface Lock {
  ruleId: string;
  scope: string;
  name: string;
  endpointId: string;
  state: LockState;
  /** Transfer attempts started (1 for the first); a message naming another attempt is stale. */
  attempt: number;
  /** The file's size and checksum, as registered: what the copy must match. */
  bytes: number;
  adler32: string;
  updatedAt: string;
  reason?: string;
}

/**
 * Where a file's copies go, deterministically: the rule's endpoints that already hold an available
 * replica count first (in the rule's order, up to `copies`); the copies still missing go to the
 * rule's other endpoints, in the rule's order.
 */
export function placeReplicas(
  endpoints: readonly string[],
  copies: number,
  replicas: readonly Pick<Replica, 'endpointId' | 'state'>[],
): { held: string[]; targets: string[] } {
  const available = new Set(replicas.filter((r) => r.state === 'available').map((r) => r.endpointId));
  const held = endpoints.filter((e) => available.has(e)).slice(0, copies);
  const targets = endpoints.filter((e) => !available.has(e)).slice(0, copies - held.length);
  return { held, targets };
}

/** Counters of a new rule's locks. */
export function countLocks(files: number, locks: readonly Pick<Lock, 'state'>[]): RuleCounters {
  return {
    files,
    available: locks.filter((l) => l.state === 'available').length,
    copying: locks.filter((l) => l.state === 'copying').length,
    failed: locks.filter((l) => l.state === 'failed').length,
  };
}

/**
 * The state a rule settles in once nothing is copying: `ok` when every lock is available, `stuck`
 * when some were given up; `replicating` while transfers go on. A deleted rule stays deleted.
 */
export function settledState(rule: Pick<Rule, 'state' | 'counters'>): RuleState {
  if (rule.state === 'deleted') return 'deleted';
  if (rule.counters.copying > 0) return 'replicating';
  return rule.counters.failed > 0 ? 'stuck' : 'ok';
}

/** The rule id of a task's precondition rule: one per task, so making it again finds it. */
export function preconditionRuleId(taskId: string): string {
  return `r-${taskId}`;
}

/** Where a rule's copy of file `scope:name` goes on an endpoint: `<prefix><scope>/<name>` (Rucio's deterministic path). */
export function replicaKey(prefix: string, scope: string, name: string): string {
  return `${prefix}${scope}/${name}`;
}

/** `s3://bucket/key` → its parts; undefined for any other URL. */
export function parseS3Url(url: string): { bucket: string; key: string } | undefined {
  const match = /^s3:\/\/([^/]+)\/(.+)$/.exec(url);
  if (match === null) return undefined;
  return { bucket: match[1] as string, key: match[2] as string };
}

/** A transfer message (SQS, versioned): copy file `scope:name` to `endpointId` for `ruleId`, attempt `attempt`. */
export const TransferMessageSchema = z.strictObject({
  v: z.literal(1),
  ruleId: RuleIdSchema,
  scope: z.string().min(1).max(30),
  name: z.string().min(1).max(250),
  endpointId: EndpointIdSchema,
  attempt: z.number().int().min(1),
});
export type TransferMessage = z.infer<typeof TransferMessageSchema>;

export function transferMessageOf(
  lock: Pick<Lock, 'ruleId' | 'scope' | 'name' | 'endpointId' | 'attempt'>,
): TransferMessage {
  return {
    v: 1,
    ruleId: lock.ruleId,
    scope: lock.scope,
    name: lock.name,
    endpointId: lock.endpointId,
    attempt: lock.attempt,
  };
}
