import type { MetaTaskEdge, MetaTaskShape, MetaTaskSpec } from './meta-task-spec.ts';

export type MetaTaskState = 'running' | 'paused' | 'done' | 'partial' | 'failed' | 'cancelled';
/** As stored; `paused` is only shown (a running node of a paused meta-task). */
export type NodeState = 'pending' | 'running' | 'done' | 'partial' | 'failed' | 'cancelled' | 'skipped';

export const FINAL_NODE_STATES: ReadonlySet<NodeState> = new Set([
  'done',
  'partial',
  'failed',
  'cancelled',
  'skipped',
]);
export const FINAL_META_TASK_STATES: ReadonlySet<MetaTaskState> = new Set([
  'done',
  'partial',
  'failed',
  'cancelled',
]);

export interface NodeRecord {
  name: string;
  type: 'task' | 'merge';
  state: NodeState;
  /** The node's current task (set when it starts). */
  taskId?: string;
  /** The task's jobs and finished jobs when it ended (for an edge's partial fraction). */
  jobCount?: number;
  finished?: number;
  /** Why it is skipped, failed or cancelled. */
  reason?: string;
  /** Earlier tasks of the node (before a retry), oldest first. */
  history: Array<{ taskId: string; state: NodeState }>;
  /** The dataset the node's current task writes (`scope:name`; set when it starts). */
  outputDataset?: string;
}

/**
 * The dataset a node's task writes, this meta-task's and this try's own: the spec's name with the
 * meta-task id (and `.r<try>` for a retried node) before its `.output`/`.merged` ending, so the
 * same meta-task spec submitted again, or a node retried, never finds its dataset taken and closed.
 */
export function nodeDatasetOfTry(specDataset: string, metaTaskId: string, attempt: number): string {
  const colon = specDataset.indexOf(':');
  const scope = specDataset.slice(0, colon);
  const name = specDataset.slice(colon + 1);
  const ending = /\.(output|merged)$/.exec(name)?.[0] ?? '';
  const stem = name.slice(0, name.length - ending.length);
  const retry = attempt > 0 ? `.r${attempt}` : '';
  return `${scope}:${`${stem}.${metaTaskId}${retry}`.slice(0, 250 - ending.length)}${ending}`;
}

/**
 * One meta-task: its spec (never changes), its edges and topological order, and what changes:
 * state, nodes, the workflow's wait token. Every change is conditional on `version`.
 */
export interface MetaTask {
  metaTaskId: string;
  owner: string;
  name: string;
  shape: MetaTaskShape;
  spec: MetaTaskSpec;
  edges: MetaTaskEdge[];
  order: string[];
  state: MetaTaskState;
  nodes: NodeRecord[];
  /** The meta-task workflow's wait token (WaitForNodes), while it waits. */
  waitToken?: string;
  cancelRequested: boolean;
  /** Retries so far; retry n runs as execution `<id>-r<n>`. */
  retries: number;
  reason?: string;
  version: number;
  createdAt: string;
  updatedAt: string;
  endedAt?: string;
}

export function isFinalMetaTaskState(state: MetaTaskState): boolean {
  return FINAL_META_TASK_STATES.has(state);
}
