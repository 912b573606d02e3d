import type { Page, PageRequest } from '../api/common.ts';
import type { RetryRuleSet } from './retry-rules.ts';
import type { Decayed, ShareTree } from './shares.ts';

/**
 * A task whose jobs are released to site queues by dispatch, a few at a time in fair-share order
 * (PanDA's activation): what the order needs, kept apart from the task so that one read lists
 * every task waiting for dispatch.
 */
export interface DispatchEntry {
  taskId: string;
  owner: string;
  priority: number;
  createdAt: string;
  jobCount: number;
  /** Jobs released so far (jobs 0 … released−1 have had their first message sent). */
  released: number;
  /** Cores per job (usage is counted in cores). */
  cores: number;
  /** Memory and GPUs per job: with the cores, the jobs' resource class (the site queue they go to). */
  memoryMB: number;
  gpus?: number;
  /** The sites brokerage chose. */
  siteIds: string[];
  paused?: boolean;
  siteTest?: boolean;
  /** The task's budget (spec.budget.usd): once spent, its jobs go to no paid site. */
  budgetUsd?: number;
}

export interface StoredShares {
  tree: ShareTree;
  version: number;
  updatedAt: string;
  updatedBy: string;
}

export interface PolicyStore {
  /** Adds a task to dispatch; a task already there keeps its progress. */
  activate(entry: DispatchEntry): Promise<void>;
  /** Every task waiting for dispatch (strongly consistent). */
  listActive(): Promise<DispatchEntry[]>;
  /** Moves a task's release cursor from `from` to `to`, fenced on `from`. */
  advance(taskId: string, from: number, to: number): Promise<'ok' | 'conflict'>;
  /** Carries a pause, a resume or a new priority to the task's entry (nothing when it has none). */
  steerActive(taskId: string, change: { paused?: boolean; priority?: number }): Promise<void>;
  /**
   * The task's jobs grew (a scouted task's sizing cut the rest): dispatch releases up to
   * `jobCount` from now on, each job needing `memoryMB` (the sized request). Only grows; nothing
   * for a task not in dispatch.
   */
  extendActive(taskId: string, change: { jobCount: number; memoryMB: number }): Promise<void>;
  /**
   * Takes the dispatch lock for one round (a lock held past `expiresAt` is free again): 'busy' when
   * another round holds it, which is then asked to run once more before it lets go (so the facts
   * this round came for, such as a task just split, are not missed). One round at a time sends no
   * job twice.
   */
  acquireDispatch(holder: string, now: number, expiresAt: number): Promise<'acquired' | 'busy'>;
  /**
   * Ends the holder's round: 'released'; or 'again' when a round was asked for meanwhile, and the
   * holder keeps the lock (until `expiresAt`) to run it.
   */
  releaseDispatch(holder: string, expiresAt: number): Promise<'released' | 'again'>;
  /** The task ended or was cancelled: it leaves dispatch (until then its jobs in flight count against caps). Idempotent. */
  deactivate(taskId: string): Promise<void>;
  /** The share tree, or undefined when none was ever set. */
  getShares(): Promise<StoredShares | undefined>;
  /** Stores a new share tree as the next version, fenced on the version it replaces. */
  putShares(
    tree: ShareTree,
    change: { expectedVersion: number; at: string; by: string },
  ): Promise<'ok' | 'conflict'>;
  /** Usage by usage key (user#…, group#…), each as last written. */
  usage(): Promise<Map<string, Decayed>>;
  /** Writes usage values (already decayed to `at` and added to). */
  putUsage(values: Array<{ key: string } & Decayed>): Promise<void>;
}

/** One version of the retry rules: immutable once stored. Version 0 is the built-in rules, never stored. */
export interface RetryPolicyVersion {
  version: number;
  ruleSet: RetryRuleSet;
  createdAt: string;
  /** The subject of the token that stored it. */
  createdBy: string;
}

/** The versions of the retry rules (the policies table, pk `retry`). */
export interface RetryPolicyStore {
  /**
   * The current version, or undefined when none was ever stored. Read now (strongly consistent),
   * unless `cached`: then an answer up to the store's cache age old will do (deciding a failure).
   */
  current(options?: { cached?: boolean }): Promise<RetryPolicyVersion | undefined>;
  /** One stored version (1, 2, …), or undefined. */
  get(version: number): Promise<RetryPolicyVersion | undefined>;
  /** Stored versions, newest first. */
  list(page: PageRequest): Promise<Page<RetryPolicyVersion>>;
  /**
   * Stores `policy` as its version and makes it current, if the current version is the one before
   * (none stored for version 1). 'conflict' otherwise, and nothing is written: two changes at once
   * cannot both become version N.
   */
  create(policy: RetryPolicyVersion): Promise<'ok' | 'conflict'>;
}
