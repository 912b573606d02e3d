import type { AccountingBy, RollupRow, TaskCost, UsageRecord } from './usage.ts';

export interface AccountingStore {
  /**
   * Writes the usage record and adds it to its three roll-ups (day × user, group, site), all at
   * once; 'duplicate' when the record was written before: then nothing is added (a replayed end
   * never counts twice). A record with a cost (costUsd) adds it to the roll-ups and to its task's
   * cost total in the same write.
   */
  record(usage: UsageRecord): Promise<'recorded' | 'duplicate'>;
  /**
   * What the task's attempts cost so far (the sum of their costUsd) and how many had a cost: one
   * read by key ({usd: 0, attempts: 0} for a task with none).
   */
  taskCost(taskId: string): Promise<TaskCost>;
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
