import type { Page, PageRequest } from '../api/common.ts';
import type { RetryRuleSet } from './retry-rules.ts';

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
