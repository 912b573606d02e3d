import { type ShareTree, usageKey } from './shares.ts';

/** A task with jobs not yet released to site queues, as dispatch sees it. */
export interface DispatchCandidate {
  taskId: string;
  owner: string;
  priority: number;
  createdAt: string;
  /** Jobs of the task not released yet. */
  remaining: number;
  /** Cores one job takes (usage is counted in cores). */
  cores: number;
}

/** Who is held back at a site, and why (for `gluon why`). */
export interface Held {
  key: string;
  reason: 'cap';
  cap: number;
}

/**
 * The shares as a tree the order walks: top groups, their subgroups, and at the leaves the users
 * with work. `share` is the fraction of the parent's.
 */
interface ShareNode {
  key: string;
  share: number;
  cap?: number;
  children: ShareNode[];
  /** Leaves: the user's candidates, best first. */
  tasks?: DispatchCandidate[];
}

/** The leaf group of a user: the group naming them, or the default group. */
export function groupOf(tree: ShareTree, user: string): string {
  return tree.users.find((u) => u.user === user)?.group ?? tree.defaultGroup;
}

/** The groups above a user, top first. */
export function groupPath(tree: ShareTree, user: string): string[] {
  const path: string[] = [];
  let group: string | undefined = groupOf(tree, user);
  while (group !== undefined && !path.includes(group)) {
    path.unshift(group);
    group = tree.groups.find((g) => g.name === group)?.parent;
  }
  return path;
}

/** Every usage key a job of this user counts against: the user's and each group's above. */
export function usageKeysOf(tree: ShareTree, user: string): string[] {
  return [usageKey.user(user), ...groupPath(tree, user).map(usageKey.group)];
}

/** A user's task order: higher priority first, then older, then by id (stable). */
export function byPriority(a: DispatchCandidate, b: DispatchCandidate): number {
  return (
    b.priority - a.priority || a.createdAt.localeCompare(b.createdAt) || a.taskId.localeCompare(b.taskId)
  );
}

function buildTree(tree: ShareTree, candidates: readonly DispatchCandidate[]): ShareNode {
  const groups = new Map<string, ShareNode>();
  for (const g of tree.groups) {
    groups.set(g.name, {
      key: usageKey.group(g.name),
      share: g.share / 100,
      ...(g.cap === undefined ? {} : { cap: g.cap }),
      children: [],
    });
  }
  const root: ShareNode = { key: '', share: 1, children: [] };
  for (const g of tree.groups) {
    const node = groups.get(g.name) as ShareNode;
    (g.parent === undefined ? root : (groups.get(g.parent) ?? root)).children.push(node);
  }
  const byOwner = new Map<string, DispatchCandidate[]>();
  for (const c of candidates) {
    if (c.remaining <= 0) continue;
    const list = byOwner.get(c.owner) ?? [];
    list.push(c);
    byOwner.set(c.owner, list);
  }
  // Users of a group: named shares as given; the rest of the group's share split equally among the others.
  const usersOfGroup = new Map<string, string[]>();
  for (const owner of byOwner.keys()) {
    const group = groupOf(tree, owner);
    usersOfGroup.set(group, [...(usersOfGroup.get(group) ?? []), owner]);
  }
  for (const [group, owners] of usersOfGroup) {
    const named = tree.users.filter((u) => u.group === group && u.share !== undefined);
    const namedSum = named.reduce((s, u) => s + (u.share ?? 0), 0);
    const unnamed = owners.filter((o) => !named.some((u) => u.user === o));
    const each = unnamed.length === 0 ? 0 : Math.max(100 - namedSum, 0) / unnamed.length;
    const node = groups.get(group);
    if (node === undefined) continue;
    for (const owner of owners.sort()) {
      const entry = tree.users.find((u) => u.user === owner);
      const share = (entry?.share ?? each) / 100;
      node.children.push({
        key: usageKey.user(owner),
        // A user whose named shares leave nothing still gets a sliver, so they are never starved forever.
        share: share > 0 ? share : 1e-6,
        ...(entry?.cap === undefined ? {} : { cap: entry.cap }),
        children: [],
        tasks: (byOwner.get(owner) ?? []).sort(byPriority),
      });
    }
  }
  return root;
}

/**
 * The fair-share order of one dispatch at one site: which tasks' jobs fill `room` places in the
 * site's queue, one job at a time. At each level of the share tree the child with the lowest
 * usage for its share goes next (HTCondor's hierarchical fair share); a user's own tasks go by
 * priority. `usage` (decayed, by usage key) and `inFlight` (jobs queued or running, by usage key,
 * for caps) are moved by every job chosen, so one call can be followed by the next site's with
 * the same maps. A heavy user therefore cannot starve a light one: the light one's usage is lower.
 */
export function fairShareOrder(input: {
  tree: ShareTree;
  candidates: readonly DispatchCandidate[];
  room: number;
  usage: Map<string, number>;
  inFlight: Map<string, number>;
}): { allocations: Array<{ taskId: string; count: number }>; held: Held[] } {
  const { tree, usage, inFlight } = input;
  const root = buildTree(tree, input.candidates);
  const taken = new Map<string, number>();
  const held = new Map<string, Held>();
  const allocations: Array<{ taskId: string; count: number }> = [];

  const capped = (node: ShareNode): boolean => {
    if (node.cap === undefined || (inFlight.get(node.key) ?? 0) < node.cap) return false;
    held.set(node.key, { key: node.key, reason: 'cap', cap: node.cap });
    return true;
  };
  // Work a node can take now: some task below it has jobs left, and no cap on the way is reached.
  const open = (node: ShareNode): boolean =>
    !capped(node) &&
    (node.tasks !== undefined
      ? node.tasks.some((t) => t.remaining > (taken.get(t.taskId) ?? 0))
      : node.children.some(open));
  const ratio = (node: ShareNode): number => (usage.get(node.key) ?? 0) / node.share;

  for (let place = 0; place < input.room; place++) {
    const path: ShareNode[] = [];
    let node: ShareNode | undefined = root;
    while (node !== undefined && node.tasks === undefined) {
      const next: ShareNode[] = node.children.filter(open);
      next.sort((a, b) => ratio(a) - ratio(b) || a.key.localeCompare(b.key));
      node = next[0];
      if (node !== undefined) path.push(node);
    }
    const task = node?.tasks?.find((t) => t.remaining > (taken.get(t.taskId) ?? 0));
    if (task === undefined) break;
    taken.set(task.taskId, (taken.get(task.taskId) ?? 0) + 1);
    const last = allocations.at(-1);
    if (last?.taskId === task.taskId) last.count++;
    else allocations.push({ taskId: task.taskId, count: 1 });
    for (const n of path) {
      usage.set(n.key, (usage.get(n.key) ?? 0) + task.cores);
      inFlight.set(n.key, (inFlight.get(n.key) ?? 0) + 1);
    }
  }
  return { allocations, held: [...held.values()] };
}
