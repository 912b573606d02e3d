import type { MetaTaskState, NodeRecord, NodeState } from './meta-task.ts';
import { FINAL_NODE_STATES } from './meta-task.ts';
import type { MetaTaskEdge } from './meta-task-spec.ts';

/** What a pending node may do now, given how its parents ended. */
export type NodeReadiness = { kind: 'ready' } | { kind: 'wait' } | { kind: 'skip'; reason: string };

/**
 * A node is ready when every parent ended as its edge allows: `done`, or for `when: partial`
 * also `partial` with finished/jobCount ≥ minFraction. A parent that ended otherwise (failed,
 * cancelled, skipped, partial below the fraction) stops the node: it is skipped, and so in turn
 * every node below it.
 */
export function nodeReadiness(
  parents: readonly MetaTaskEdge[],
  nodes: ReadonlyMap<string, Pick<NodeRecord, 'state' | 'jobCount' | 'finished'>>,
): NodeReadiness {
  let waiting = false;
  for (const edge of parents) {
    const parent = nodes.get(edge.from);
    if (parent === undefined) return { kind: 'skip', reason: `no node ${edge.from}` };
    if (!FINAL_NODE_STATES.has(parent.state)) {
      waiting = true;
      continue;
    }
    if (parent.state === 'done') continue;
    if (parent.state === 'partial' && edge.when === 'partial') {
      const fraction = (parent.finished ?? 0) / Math.max(parent.jobCount ?? 0, 1);
      if (fraction >= (edge.minFraction ?? 1)) continue;
      return {
        kind: 'skip',
        reason: `stopped below ${edge.from} (partial, ${Math.round(fraction * 100)}% finished < ${Math.round((edge.minFraction ?? 1) * 100)}%)`,
      };
    }
    return { kind: 'skip', reason: `stopped below ${edge.from} (${parent.state})` };
  }
  return waiting ? { kind: 'wait' } : { kind: 'ready' };
}

export interface AdvancePlan {
  /** Nodes to skip now, with why (descendants of a stopped node included). */
  skip: Array<{ name: string; reason: string }>;
  /** Nodes to start now (none while paused or cancelled). */
  start: string[];
  /** The meta-task's end, when every node is final after the skips. */
  end?: Exclude<MetaTaskState, 'running' | 'paused'>;
}

/**
 * The next step of a meta-task from its nodes' states (in topological order): which nodes are
 * skipped, which start, and whether it ended. A cancelled meta-task starts nothing and ends
 * cancelled once no node runs; a paused one starts nothing.
 */
export function planAdvance(
  order: readonly string[],
  edges: readonly MetaTaskEdge[],
  nodes: readonly Pick<NodeRecord, 'name' | 'state' | 'jobCount' | 'finished'>[],
  flags: { paused: boolean; cancelRequested: boolean },
): AdvancePlan {
  const byName = new Map(nodes.map((n) => [n.name, { ...n }]));
  const skip: AdvancePlan['skip'] = [];
  const start: string[] = [];
  for (const name of order) {
    const node = byName.get(name);
    // A cancelled meta-task's pending nodes end cancelled, not skipped.
    if (node === undefined || node.state !== 'pending' || flags.cancelRequested) continue;
    const readiness = nodeReadiness(
      edges.filter((e) => e.to === name),
      byName,
    );
    if (readiness.kind === 'skip') {
      node.state = 'skipped';
      skip.push({ name, reason: readiness.reason });
    } else if (readiness.kind === 'ready' && !flags.paused && !flags.cancelRequested) {
      start.push(name);
    }
  }
  const states = [...byName.values()].map((n) => n.state);
  if (flags.cancelRequested) {
    return states.includes('running') ? { skip, start: [] } : { skip, start: [], end: 'cancelled' };
  }
  if (start.length > 0 || states.some((s) => !FINAL_NODE_STATES.has(s))) return { skip, start };
  return { skip, start, end: metaTaskEnd(states) };
}

/** done: every node done; failed: no node done or partial; partial otherwise. */
export function metaTaskEnd(states: readonly NodeState[]): 'done' | 'partial' | 'failed' {
  if (states.every((s) => s === 'done')) return 'done';
  if (states.some((s) => s === 'done' || s === 'partial')) return 'partial';
  return 'failed';
}

/**
 * The nodes a retry runs again: failed and cancelled ones, partial ones below which a node was
 * skipped, and every skipped node (they were below one of those).
 */
export function nodesToRetry(
  edges: readonly MetaTaskEdge[],
  nodes: readonly Pick<NodeRecord, 'name' | 'state'>[],
): string[] {
  const byName = new Map(nodes.map((n) => [n.name, n.state]));
  return nodes
    .filter((n) => {
      if (n.state === 'failed' || n.state === 'cancelled' || n.state === 'skipped') return true;
      return n.state === 'partial' && edges.some((e) => e.from === n.name && byName.get(e.to) === 'skipped');
    })
    .map((n) => n.name);
}
