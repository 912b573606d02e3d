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
  /** The sites brokerage chose. */
  siteIds: string[];
  paused?: boolean;
  siteTest?: boolean;
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
