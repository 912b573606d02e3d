import type { Page, PageRequest } from '../api/common.ts';
import type { RetrySchedule } from '../notifications/webhook.ts';
import type { Lock, Rule, TransferMessage } from './rule.ts';

/**
 * Rules and their locks (items of the catalog table). Every write is conditional: a lock leaves
 * `copying` once, and the rule's counters move with it in the same transaction, so a replayed
 * transfer message moves nothing.
 */
export interface RuleStore {
  /** Writes the rule and its locks; false, writing nothing, when a rule with its id exists. */
  createRule(rule: Rule, locks: Lock[]): Promise<boolean>;
  getRule(ruleId: string): Promise<Rule | undefined>;
  /** Rules, newest first: an owner's (or everyone's when no owner), of one DID when given. */
  listRules(filter: { owner?: string; did?: string }, page: PageRequest): Promise<Page<Rule>>;
  /** Any state but deleted → deleted; false when it was deleted already (or absent). */
  deleteRule(ruleId: string, at: string): Promise<boolean>;
  getLock(
    ruleId: string,
    file: { scope: string; name: string },
    endpointId: string,
  ): Promise<Lock | undefined>;
  /** The rule's locks, a page at a time. */
  listLocks(ruleId: string, page: PageRequest): Promise<Page<Lock>>;
  /**
   * The lock's transfer ended: `copying` at `lock.attempt` → `available` or `failed`, and the
   * rule's counters (copying − 1, that state + 1) in one transaction. False when the lock was not
   * copying at that attempt (a replay, or a stale attempt): nothing moves.
   */
  finishLock(lock: Lock, outcome: 'available' | 'failed', at: string, reason?: string): Promise<boolean>;
  /** Another attempt: `copying` at `lock.attempt` → `copying` at `lock.attempt + 1`. False otherwise. */
  retryLock(lock: Lock, at: string, reason: string): Promise<boolean>;
  /**
   * When nothing of the rule is copying any more, `replicating` → `state` (`ok` or `stuck`);
   * false when the rule is not replicating or still copying.
   */
  settleRule(ruleId: string, state: 'ok' | 'stuck', at: string): Promise<boolean>;
}

/** The transfer service's queue (SQS): one message per lock to copy. */
export interface TransferQueue {
  /** Sends the messages, each delivered no sooner than `delaySec` (at most 900, SQS's limit). */
  send(messages: TransferMessage[], delaySec?: number): Promise<void>;
}

/** An object in a bucket. */
export interface ObjectRef {
  bucket: string;
  key: string;
}

/** Copies objects between buckets and reads them back (S3 on AWS, fauxqs locally). */
export interface ObjectCopier {
  /**
   * Copies `source` to `destination` (server side; in parts above the adapter's threshold), `bytes`
   * being the source's registered size.
   */
  copy(source: ObjectRef, destination: ObjectRef, bytes: number): Promise<void>;
  /** Size and adler32 of an object, read back as a stream; undefined when there is no such object. */
  checksum(object: ObjectRef): Promise<{ bytes: number; adler32: string } | undefined>;
  remove(object: ObjectRef): Promise<void>;
}

/** The transfer service's settings: back-off of failed attempts (base × 2^n, capped) and attempts in all. */
export type TransferSettings = RetrySchedule;
