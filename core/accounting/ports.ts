import type { AccountingBy, RollupRow, UsageRecord } from './usage.ts';

export interface AccountingStore {
  /**
   * Writes the usage record and adds it to its three roll-ups (day × user, group, site), all at
   * once; 'duplicate' when the record was written before: then nothing is added (a replayed end
   * never counts twice).
   */
  record(usage: UsageRecord): Promise<'recorded' | 'duplicate'>;
  /**
   * Roll-up rows of `by` for the days `from` to `to` (both included), of every key or only of
   * `key`, ordered by day then key. Read by key, never by scanning.
   */
  rollups(by: AccountingBy, range: { from: string; to: string; key?: string }): Promise<RollupRow[]>;
  /** The usage records of one day (attempts that ended that UTC day), by a query. */
  usageOfDay(day: string): Promise<UsageRecord[]>;
}

/** Where accounting exports go (the results bucket, under `accounting/`). */
export interface AccountingExports {
  put(key: string, body: Uint8Array, contentType: string): Promise<void>;
}
